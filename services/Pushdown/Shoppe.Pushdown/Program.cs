// The pushdown service: scans beside the data, streamed as Arrow over HTTP and Arrow Flight, with joins of column
// sets on event identity (like SkyHook; docs/pushdown.md).
using Shoppe.Pushdown.Apis;
using Shoppe.Pushdown.Extensions;
using Shoppe.Security;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddShoppeAuthentication();
builder.AddPushdownServices();

var app = builder.Build();
app.MapDefaultEndpoints();
app.UseShoppeAuthentication();
app.MapScansApi();
app.MapDatasetsApi();
app.MapFlightApi();
await app.RunAsync();
