using Shoppe.Portal.Apis;
using Shoppe.Portal.Components;
using Shoppe.Portal.Extensions;
using Shoppe.Portal.SignIn;
using Shoppe.Security;

var builder = WebApplication.CreateBuilder(args);
// Run from a build's output (the conformance suite, the tests) the stylesheet and script come from the project's
// wwwroot through the build's static-assets manifest, in any environment; a published portal carries them itself.
builder.WebHost.UseStaticWebAssets();
// The build's manifest is served with every cache header turned off (for editing assets in place) unless this is set:
// the manifest's own headers (a year and immutable for the fingerprinted names pages link to) are right in every
// environment, since a changed asset gets a new name. Otherwise each page load fetched the stylesheet again first.
builder.Configuration["EnableStaticAssetsDevelopmentCaching"] = "true";
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
