using Shoppe.Portal.Apis;
using Shoppe.Portal.Components;
using Shoppe.Portal.Extensions;
using Shoppe.Portal.SignIn;
using Shoppe.Security;

var builder = WebApplication.CreateBuilder(args);
// Run from a build's output (the conformance suite, the tests) the stylesheet and script come from the project's
// wwwroot through the build's static-assets manifest, in any environment; a published portal carries them itself.
builder.WebHost.UseStaticWebAssets();
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
app.MapHelpApi();
app.MapReleaseApi();
app.MapRazorComponents<App>();
await app.RunAsync();
