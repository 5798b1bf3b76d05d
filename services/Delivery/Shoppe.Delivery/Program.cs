// The delivery service: columns of a dataset, filtered, delivered to the user (like ServiceX).
// Its API arrives with its own issue; until then it serves health and /version, and 404 elsewhere.
using Shoppe.Security;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddShoppeAuthentication();

var app = builder.Build();
app.MapDefaultEndpoints();
app.UseShoppeAuthentication();
await app.RunAsync();
