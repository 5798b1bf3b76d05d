using Shoppe.AppHost;

// The whole facility on one machine: every service as a local process with embedded stores, and the
// Aspire dashboard for traces, metrics and logs. `dotnet run --project aspire/Shoppe.AppHost`.
var builder = DistributedApplication.CreateBuilder(args);
var dataRoot = builder.Configuration.ResolveDataRoot();

var logs = builder.AddShoppeService<Projects.Shoppe_Logs>("logs", dataRoot);
var cache = builder.AddShoppeService<Projects.Shoppe_Cache>("cache", dataRoot);
var transfer = builder.AddShoppeService<Projects.Shoppe_Transfer>("transfer", dataRoot);
var pushdown = builder.AddShoppeService<Projects.Shoppe_Pushdown>("pushdown", dataRoot);

var delivery = builder.AddShoppeService<Projects.Shoppe_Delivery>("delivery", dataRoot)
    .WithReference(cache).WaitFor(cache)
    .WithReference(logs).WaitFor(logs);

var workflow = builder.AddShoppeService<Projects.Shoppe_Workflow>("workflow", dataRoot)
    .WithReference(delivery)
    .WithReference(transfer);

builder.AddShoppeService<Projects.Shoppe_Portal>("portal", dataRoot)
    .WithReference(delivery)
    .WithReference(cache)
    .WithReference(transfer)
    .WithReference(workflow)
    .WithReference(pushdown)
    .WithReference(logs)
    .WithExternalHttpEndpoints()
    .AnnounceWhenReady(dataRoot);

await builder.Build().RunAsync();
