using System.Net.Http.Headers;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Shoppe.Security;

namespace Shoppe.Transfer.Tests;

/// <summary>The real transfer service on a loopback port (remotes must reach it), with its own storage root.</summary>
public sealed class TransferServiceFactory : WebApplicationFactory<Program>
{
    private readonly Dictionary<string, string?> _settings;

    public TransferServiceFactory(string dataRoot, string keyFile, IDictionary<string, string?>? settings = null, int port = 0)
    {
        DataRoot = dataRoot;
        KeyFile = keyFile;
        _settings = new Dictionary<string, string?>
        {
            ["Shoppe:DataRoot"] = dataRoot,
            ["Shoppe:Security:SigningKeyFile"] = keyFile,
            ["Transfer:MarkerInterval"] = "00:00:00.200",
        };
        foreach (var (k, v) in settings ?? new Dictionary<string, string?>())
        {
            _settings[k] = v;
        }

        UseKestrel(port);
    }

    public string DataRoot { get; }

    public string KeyFile { get; }

    public string Storage => Path.Combine(DataRoot, "storage");

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        foreach (var (k, v) in _settings.Where(s => s.Value is not null))
        {
            builder.UseSetting(k, v);
        }
    }

    public string Token(string user, string? scope, params string[] roles) =>
        new TokenIssuer(new ShoppeSecurityOptions { SigningKeyFile = KeyFile }, TimeProvider.System).Issue(user, roles, TimeSpan.FromHours(1), scope);

    public HttpClient ClientWith(string? scope, params string[] roles)
    {
        var client = CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token("alice", scope, roles));
        return client;
    }

    /// <summary>The service's own URL (Kestrel on a free loopback port).</summary>
    public Uri Url => CreateClient().BaseAddress!;
}
