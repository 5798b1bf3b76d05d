using System.Net.Http.Headers;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Shoppe.Security;

namespace Shoppe.Cache.Tests;

/// <summary>The real cache service (its Program, a cache folder of its own, the facility's token model).</summary>
public sealed class CacheServiceFactory(string dataRoot, IDictionary<string, string?> settings, bool kestrel = false)
    : ShoppeServiceFactory<Program>(dataRoot, new Dictionary<string, string?> { ["Cache:FlushInterval"] = "00:00:00.200" }, settings, port: kestrel ? 0 : null)
{
    /// <summary>Settings for one origin.</summary>
    public static Dictionary<string, string?> Origin(string name, string? url = null, string? directory = null, string prefix = "/") => new()
    {
        ["Cache:Origins:0:Name"] = name,
        ["Cache:Origins:0:Prefix"] = prefix,
        ["Cache:Origins:0:Url"] = url,
        ["Cache:Origins:0:Directory"] = directory,
    };
}
