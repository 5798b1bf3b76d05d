using Shoppe.Portal.Apis;
using Shoppe.Portal.Components;
using Shoppe.Portal.Extensions;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddPortalServices();

var app = builder.Build();
app.MapDefaultEndpoints();
app.UseAntiforgery();
app.MapStaticAssets();
app.MapServicesApi();
app.MapRazorComponents<App>();
await app.RunAsync();
