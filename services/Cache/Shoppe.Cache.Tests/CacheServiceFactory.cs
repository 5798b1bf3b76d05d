using System.Net.Http.Headers;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Shoppe.Security;

namespace Shoppe.Cache.Tests;

/// <summary>The real cache service (its Program, a cache folder of its own, the facility's token model).</summary>
public sealed class CacheServiceFactory : WebApplicationFactory<Program>
{
    private readonly Dictionary<string, string?> _settings;

    public CacheServiceFactory(string dataRoot, IDictionary<string, string?> settings, bool kestrel = false)
    {
        DataRoot = dataRoot;
        KeyFile = Path.Combine(DataRoot, "keys", "signing.key");
        _settings = new Dictionary<string, string?>
        {
            ["Shoppe:DataRoot"] = DataRoot,
            ["Shoppe:Security:SigningKeyFile"] = KeyFile,
            ["Cache:FlushInterval"] = "00:00:00.200",
        };
        foreach (var (k, v) in settings)
        {
            _settings[k] = v;
        }

        if (kestrel)
        {
            UseKestrel(0);
        }
    }

    public string DataRoot { get; }

    public string KeyFile { get; }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        foreach (var (k, v) in _settings.Where(s => s.Value is not null))
        {
            builder.UseSetting(k, v);
        }
    }

    public string Token(string user, params string[] roles) =>
        new TokenIssuer(new ShoppeSecurityOptions { SigningKeyFile = KeyFile }, TimeProvider.System).Issue(user, roles, TimeSpan.FromHours(1));

    public HttpClient ClientFor(string user, params string[] roles)
    {
        var client = CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token(user, roles));
        return client;
    }

    /// <summary>Settings for one origin.</summary>
    public static Dictionary<string, string?> Origin(string name, string? url = null, string? directory = null, string prefix = "/") => new()
    {
        ["Cache:Origins:0:Name"] = name,
        ["Cache:Origins:0:Prefix"] = prefix,
        ["Cache:Origins:0:Url"] = url,
        ["Cache:Origins:0:Directory"] = directory,
    };
}
