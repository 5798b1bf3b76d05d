using Microsoft.Extensions.Options;
using Shoppe.Delivery.Transforms;
using Shoppe.ServiceDefaults;

namespace Shoppe.Delivery.Extensions;

internal static class DeliveryServiceExtensions
{
    public static WebApplicationBuilder AddDeliveryServices(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<DeliveryOptions>().BindConfiguration(DeliveryOptions.SectionName).ValidateDataAnnotations()
            .Validate(o => o.Store is "sqlite" or "postgres", "Delivery:Store must be sqlite or postgres.")
            .ValidateOnStart();
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
        builder.Services.AddHostedService<StoreInitializer>();
        builder.Services.AddSingleton<FairScheduler>();
        builder.Services.AddSingleton<DeliveryInputs>();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<TransformRunner>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<TransformRunner>());
        return builder;
    }

    /// <summary>Creates the store's tables before the service takes requests or resumes transforms.</summary>
    private sealed class StoreInitializer(TransformStore store) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => store.InitializeAsync(cancellationToken);

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
