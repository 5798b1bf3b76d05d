using Shoppe.Logs.Extensions;
using Shoppe.Logs.Ingest;
using Shoppe.Logs.Query;
using Shoppe.Security;

// The logs service: receives every service's OpenTelemetry logs over OTLP/HTTP and gives each request's
// records back to its owner by request id (docs/architecture.md, "The request id").
var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddShoppeAuthentication();
builder.AddLogsServices();

var app = builder.Build();
app.MapDefaultEndpoints();
app.UseShoppeAuthentication();
app.MapOtlpIngest();
app.MapRequestLogsApi();
await app.RunAsync();
