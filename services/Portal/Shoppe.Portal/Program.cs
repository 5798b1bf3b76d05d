using Shoppe.Portal.Apis;
using Shoppe.Portal.Components;
using Shoppe.Portal.Extensions;
using Shoppe.Portal.SignIn;
using Shoppe.Security;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddPortalSignIn();
builder.AddPortalServices();

var app = builder.Build();
app.EnsureFirstAccount();
app.MapDefaultEndpoints();
app.UseShoppeAuthentication();
app.UseAntiforgery();
app.MapStaticAssets();
app.MapServicesApi();
app.MapSignInApi();
app.MapRequestsApi();
app.MapRazorComponents<App>();
await app.RunAsync();
