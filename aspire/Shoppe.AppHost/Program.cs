using Shoppe.AppHost;

// The whole facility on one machine: every service as a local process with embedded stores, and the
// Aspire dashboard for traces, metrics and logs. `dotnet run --project aspire/Shoppe.AppHost`.
var builder = DistributedApplication.CreateBuilder(args);
var facility = Facility.FromConfiguration(builder.Configuration);

var logs = builder.AddShoppeService<Projects.Shoppe_Logs>("logs", facility);
var cache = builder.AddShoppeService<Projects.Shoppe_Cache>("cache", facility).WithLogsExport(logs, facility);
var transfer = builder.AddShoppeService<Projects.Shoppe_Transfer>("transfer", facility).WithLogsExport(logs, facility);
var pushdown = builder.AddShoppeService<Projects.Shoppe_Pushdown>("pushdown", facility).WithLogsExport(logs, facility);

var delivery = builder.AddShoppeService<Projects.Shoppe_Delivery>("delivery", facility)
    .WithLogsExport(logs, facility).WaitFor(logs)
    .WithReference(cache).WaitFor(cache);

var workflow = builder.AddShoppeService<Projects.Shoppe_Workflow>("workflow", facility)
    .WithLogsExport(logs, facility)
    .WithReference(delivery)
    .WithReference(transfer);

var portal = builder.AddShoppeService<Projects.Shoppe_Portal>("portal", facility)
    .WithLogsExport(logs, facility)
    .WithReference(delivery)
    .WithReference(cache)
    .WithReference(transfer)
    .WithReference(workflow)
    .WithReference(pushdown)
    .WithExternalHttpEndpoints();

builder.AnnounceWhenReady(portal, facility, logs, cache, transfer, pushdown, delivery, workflow, portal);

await builder.Build().RunAsync();
