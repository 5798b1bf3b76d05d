// The delivery service: columns of a dataset, filtered, delivered to the user (like ServiceX; docs/delivery.md).
using Shoppe.Delivery.Apis;
using Shoppe.Delivery.Extensions;
using Shoppe.Security;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddShoppeAuthentication();
builder.AddDeliveryServices();

var app = builder.Build();
app.MapDefaultEndpoints();
app.UseShoppeAuthentication();
app.MapTransformsApi();
app.MapPilotsApi();
await app.RunAsync();
