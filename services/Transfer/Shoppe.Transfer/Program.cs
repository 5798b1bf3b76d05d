// The transfer service: a WebDAV storage endpoint with HTTP third-party copy (WLCG HTTP-TPC), docs/transfer.md.
using Shoppe.Security;
using Shoppe.Transfer.Apis;
using Shoppe.Transfer.Extensions;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddShoppeAuthentication();
builder.AddTransferServices();

var app = builder.Build();
app.MapDefaultEndpoints();
app.UseShoppeAuthentication();
app.MapTransfersApi();
app.MapWebDav();
await app.RunAsync();
