using Shoppe.Portal.Apis;
using Shoppe.Portal.Components;
using Shoppe.Portal.Extensions;
using Shoppe.Security;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddShoppeAuthentication();
builder.AddPortalServices();

var app = builder.Build();
app.MapDefaultEndpoints();
app.UseShoppeAuthentication();
app.UseAntiforgery();
app.MapStaticAssets();
app.MapServicesApi();
app.MapRazorComponents<App>();
await app.RunAsync();
