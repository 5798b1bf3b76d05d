using System.Text.Json;
using System.Text.Json.Serialization;
using Shoppe.ServiceDefaults.Versioning;

namespace Shoppe.Portal.Health;

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(ShoppeServiceInfo))]
[JsonSerializable(typeof(ServiceStatus[]))]
[JsonSerializable(typeof(IReadOnlyList<ServiceStatus>))]
internal sealed partial class PortalJsonContext : JsonSerializerContext;
