using Microsoft.Extensions.Options;
using Shoppe.Delivery.Transforms;
using Shoppe.Security.Remotes;
using Shoppe.ServiceDefaults;

namespace Shoppe.Delivery.Extensions;

internal static class DeliveryServiceExtensions
{
    public static WebApplicationBuilder AddDeliveryServices(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<DeliveryOptions>().BindConfiguration(DeliveryOptions.SectionName).ValidateDataAnnotations()
            .Validate(o => o.Store is "sqlite" or "postgres", "Delivery:Store must be sqlite or postgres.")
            .ValidateOnStart();
        // Users' URLs reach public addresses only, unless Delivery:AllowedRemotes says otherwise; the cache and the
        // named datasets are the facility's own and are read whatever it says (DeliveryInputs).
        builder.Services.AddRemotePolicy(DeliveryOptions.SectionName, RemoteDefaults.PublicOnly);
        builder.Services.AddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<DeliveryOptions>>().Value;
            if (options.Store == "postgres")
            {
                var connectionString = sp.GetRequiredService<IConfiguration>().GetConnectionString("delivery")
                    ?? throw new InvalidOperationException("Delivery:Store is postgres, but ConnectionStrings:delivery is not set.");
                return TransformStore.Postgres(connectionString);
            }

            return TransformStore.Sqlite(Path.Combine(sp.GetRequiredService<IOptions<ShoppeHostOptions>>().Value.DataRoot, "delivery.db"));
        });
        builder.Services.AddSingleton<InstanceLock>();
        builder.Services.AddHostedService<StoreInitializer>();
        builder.Services.AddSingleton<FairScheduler>();
        builder.Services.AddSingleton<DeliveryInputs>();
        builder.Services.AddSingleton<TransformRunner>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<TransformRunner>());
        // Output files are downloaded by sendfile(2) where the connection allows it.
        builder.AddZeroCopySendFile();
        return builder;
    }

    /// <summary>Takes the data folder for this instance, then creates the store's tables, before requests or resumed transforms.</summary>
    private sealed class StoreInitializer(InstanceLock instance, TransformStore store) : IHostedService
    {
        public async Task StartAsync(CancellationToken cancellationToken)
        {
            await instance.AcquireAsync(cancellationToken);
            await store.InitializeAsync(cancellationToken);
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    /// <summary>
    /// One delivery instance per data folder: two would both resume the same unfinished files. An exclusive lock on
    /// <c>delivery.lock</c>, held while the process runs; a second instance waits for it (a restart overlapping the
    /// previous process's last moments), then fails to start.
    /// </summary>
    internal sealed class InstanceLock(IOptions<ShoppeHostOptions> host) : IDisposable
    {
        private FileStream? _held;

        public async Task AcquireAsync(CancellationToken cancellationToken)
        {
            var path = Path.Combine(Directory.CreateDirectory(host.Value.DataRoot).FullName, "delivery.lock");
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (true)
            {
                try
                {
                    _held = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
                    return;
                }
                catch (IOException) when (DateTime.UtcNow < deadline)
                {
                    await Task.Delay(100, cancellationToken);
                }
            }
        }

        public void Dispose() => _held?.Dispose();
    }
}
