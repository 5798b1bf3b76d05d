using Shoppe.AppHost;

// The whole facility on one machine: every service as a local process with embedded stores, and the
// Aspire dashboard for traces, metrics and logs. `dotnet run --project aspire/Shoppe.AppHost`.
var builder = DistributedApplication.CreateBuilder(args);
var facility = Facility.FromConfiguration(builder.Configuration);

var logs = builder.AddShoppeService<Projects.Shoppe_Logs>("logs", facility);
// The cache fronts the facility's own storage: a local origin folder (put files under <data root>/origin and
// read them at http://127.0.0.1:5102/<path>). A site adds its remote origins in configuration (docs/cache.md).
var origin = Directory.CreateDirectory(Path.Combine(facility.DataRoot, "origin")).FullName;
var cache = builder.AddShoppeService<Projects.Shoppe_Cache>("cache", facility).WithLogsExport(logs, facility)
    .WithEnvironment("Cache__Origins__0__Name", "facility")
    .WithEnvironment("Cache__Origins__0__Prefix", "/")
    .WithEnvironment("Cache__Origins__0__Directory", origin);
var transfer = builder.AddShoppeService<Projects.Shoppe_Transfer>("transfer", facility).WithLogsExport(logs, facility);
// Pushdown scans the same storage beside the data: the origin folder, with the samples as "nanoaod-samples"; Arrow
// Flight on its own HTTP/2 listener at 5115 (docs/pushdown.md).
var pushdown = builder.AddShoppeService<Projects.Shoppe_Pushdown>("pushdown", facility).WithLogsExport(logs, facility)
    .WithEnvironment("Pushdown__StorageRoots__0", origin)
    .WithEnvironment("Pushdown__Datasets__nanoaod-samples__0", "nanoaod")
    .WithEnvironment("Pushdown__FlightUrl", "http://127.0.0.1:5115");

// Delivery reads every input through the cache, with a token of its own. The real NanoAOD samples are in the
// facility's storage from the start, as the dataset "nanoaod-samples" (docs/delivery.md).
var samples = Facility.SeedSamples(Path.Combine(builder.AppHostDirectory, "..", "..", "conformance", "data", "nanoaod"), origin);
var delivery = builder.AddShoppeService<Projects.Shoppe_Delivery>("delivery", facility)
    .WithLogsExport(logs, facility)
    .WithReference(cache)
    .WithEnvironment("Delivery__CacheUrl", cache.GetEndpoint("http"))
    .WithEnvironment("Delivery__CacheToken", facility.ServiceToken("delivery"));
for (var i = 0; i < samples.Count; i++)
{
    delivery.WithEnvironment($"Delivery__Datasets__nanoaod-samples__{i}", samples[i]);
}

// Workflows run their delivery and transfer works on those services, as the submitting user; their command jobs on
// two local pilots (`shoppe pilot`, one core each), which pull jobs with a pilot token (docs/workflow.md). The same
// pilots take delivery's files too, beside delivery's own workers: one execution fabric (docs/delivery.md).
var workflow = builder.AddShoppeService<Projects.Shoppe_Workflow>("workflow", facility)
    .WithLogsExport(logs, facility)
    .WithReference(delivery)
    .WithReference(transfer)
    .WithEnvironment("Workflow__DeliveryUrl", delivery.GetEndpoint("http"))
    .WithEnvironment("Workflow__TransferUrl", transfer.GetEndpoint("http"))
    .WithEnvironment("Workflow__TransferStorageRoot", Path.Combine(facility.DataRoot, "transfer", "storage"))
    .WithEnvironment("Workflow__WatchRoots__0", origin);
builder.AddProject<Projects.Shoppe_Cli>("pilots")
    .FromBuildOutput()
    .WithArgs("pilot", "--cores", "1", "--work-dir", Path.Combine(facility.DataRoot, "pilots"))
    .WithEnvironment("SHOPPE_PILOT_SERVERS", ReferenceExpression.Create($"{workflow.GetEndpoint("http")},{delivery.GetEndpoint("http")}"))
    .WithEnvironment("SHOPPE_TOKEN", facility.PilotToken())
    .WithReplicas(2)
    .WaitFor(workflow)
    .WaitFor(delivery);

// The portal shows the release this build is (stack/releases/<VERSION>/ in this repository, verified with stack/keys/)
// or says that none has been cut for it.
var portal = builder.AddShoppeService<Projects.Shoppe_Portal>("portal", facility)
    .WithEnvironment("Portal__SignIn__FirstAccount", Facility.PortalUser)
    .WithEnvironment("Portal__Release__Repository", Path.GetFullPath(Path.Combine(builder.AppHostDirectory, "..", "..")))
    .WithLogsExport(logs, facility)
    .WithReference(delivery)
    .WithReference(cache)
    .WithReference(transfer)
    .WithReference(workflow)
    .WithReference(pushdown)
    .WithExternalHttpEndpoints();

builder.AnnounceWhenReady(portal, facility, logs, cache, transfer, pushdown, delivery, workflow, portal);

await builder.Build().RunAsync();
