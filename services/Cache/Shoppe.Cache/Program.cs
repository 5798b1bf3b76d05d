// The cache service: an authenticated block cache for remote file data (like XCache), read with HTTP
// range requests (docs/cache.md).
using Shoppe.Cache.Apis;
using Shoppe.Cache.Extensions;
using Shoppe.Security;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddShoppeAuthentication();
builder.AddCacheServices();

var app = builder.Build();
app.MapDefaultEndpoints();
app.UseShoppeAuthentication();
app.MapCacheApi();
await app.RunAsync();
