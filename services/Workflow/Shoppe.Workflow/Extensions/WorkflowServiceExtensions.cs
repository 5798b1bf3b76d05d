using Microsoft.Extensions.Options;
using Shoppe.ServiceDefaults;
using Shoppe.Workflow.Actions;
using Shoppe.Workflow.Pilots;
using Shoppe.Workflow.Scheduling;
using Shoppe.Workflow.State;

namespace Shoppe.Workflow.Extensions;

internal static class WorkflowServiceExtensions
{
    public static WebApplicationBuilder AddWorkflowServices(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<WorkflowOptions>().BindConfiguration(WorkflowOptions.SectionName).ValidateDataAnnotations()
            .Validate(o => o.Store is "sqlite" or "postgres", "Workflow:Store must be sqlite or postgres.")
            .ValidateOnStart();
        builder.Services.AddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<WorkflowOptions>>().Value;
            if (options.Store == "postgres")
            {
                var connectionString = sp.GetRequiredService<IConfiguration>().GetConnectionString("workflow")
                    ?? throw new InvalidOperationException("Workflow:Store is postgres, but ConnectionStrings:workflow is not set.");
                return WorkflowStore.Postgres(connectionString);
            }

            return WorkflowStore.Sqlite(Path.Combine(sp.GetRequiredService<IOptions<ShoppeHostOptions>>().Value.DataRoot, "workflow.db"));
        });
        builder.Services.AddHostedService<StoreInitializer>();
        builder.Services.AddSingleton<Engine>();
        builder.Services.AddHostedService<Housekeeping>();
        builder.Services.AddHostedService<ServiceActions>();
        builder.Services.AddHostedService<LocalPilots>();
        builder.Services.AddHostedService<Slurm.SlurmPilots>();
        builder.Services.AddHostedService<Carousel.StageIn>();
        builder.Services.AddHttpClient("workflow-actions");
        builder.Services.AddHttpClient("slurm");
        return builder;
    }

    /// <summary>Creates the store's tables before requests, housekeeping or pilots.</summary>
    private sealed class StoreInitializer(WorkflowStore store) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => store.InitializeAsync(cancellationToken);

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
