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
        // Any number of instances share one store (PostgreSQL at a site; on one machine, one SQLite file): files
        // are leased, so an instance or pilot that dies loses nothing and a file succeeds once.
        builder.Services.AddHostedService<StoreInitializer>();
        builder.Services.AddSingleton<DeliveryInputs>();
        builder.Services.AddSingleton<FileDispatcher>();
        builder.Services.AddSingleton<TransformRunner>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<TransformRunner>());
        // Output files are downloaded by sendfile(2) where the connection allows it.
        builder.AddZeroCopySendFile();
        return builder;
    }

    /// <summary>Creates the store's tables (and adds what a newer version needs) before requests or workers use it.</summary>
    private sealed class StoreInitializer(TransformStore store) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => store.InitializeAsync(cancellationToken);

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
