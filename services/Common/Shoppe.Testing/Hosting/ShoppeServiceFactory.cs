using System.Net.Http.Headers;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Shoppe.Security;

namespace Shoppe.Testing;

/// <summary>
/// One of our services, real (its Program), with a data folder and a signing key of its own and the facility's
/// token model: in memory, or on a loopback port where other processes must reach it. Each service's tests derive
/// their factory from it, adding that service's own settings and helpers.
/// </summary>
/// <typeparam name="TEntryPoint">A type in the service's assembly (its Program).</typeparam>
public abstract class ShoppeServiceFactory<TEntryPoint> : WebApplicationFactory<TEntryPoint>
    where TEntryPoint : class
{
    private readonly Dictionary<string, string?> _settings;

    /// <param name="dataRoot">The service's data folder.</param>
    /// <param name="defaults">The service's own settings for tests, which <paramref name="settings"/> override.</param>
    /// <param name="settings">The test's settings (a null value removes a default).</param>
    /// <param name="keyFile">The signing key; by default <c>keys/signing.key</c> in the data folder.</param>
    /// <param name="port">A loopback port for Kestrel (0: a free one); null: in memory.</param>
    protected ShoppeServiceFactory(string dataRoot, IDictionary<string, string?> defaults, IDictionary<string, string?>? settings, string? keyFile = null, int? port = null)
    {
        ArgumentNullException.ThrowIfNull(defaults);
        DataRoot = dataRoot;
        KeyFile = keyFile ?? Path.Combine(dataRoot, "keys", "signing.key");
        _settings = new Dictionary<string, string?>
        {
            ["Shoppe:DataRoot"] = DataRoot,
            ["Shoppe:Security:SigningKeyFile"] = KeyFile,
        };
        foreach (var (k, v) in defaults.Concat(settings ?? new Dictionary<string, string?>()))
        {
            _settings[k] = v;
        }

        if (port is { } kestrelPort)
        {
            // Kestrel on 127.0.0.1 through the service's own URL setting: UseKestrel(port) rewrites the server's
            // addresses after the app has started binding, a race that fails now and then (dotnet/aspnetcore#67714).
            UseKestrel();
            _settings["urls"] = $"http://127.0.0.1:{kestrelPort}";
        }
    }

    /// <summary>The service's one clock, where a test moves time by hand; null: the system's.</summary>
    public TimeProvider? Clock { get; init; }

    /// <summary>The service's data folder.</summary>
    public string DataRoot { get; }

    /// <summary>The key its tokens are signed with.</summary>
    public string KeyFile { get; }

    /// <summary>A token for <paramref name="user"/> with <paramref name="roles"/> (and WLCG storage scopes), valid an hour.</summary>
    public string Token(string user, string[] roles, string? scope = null) =>
        new TokenIssuer(new ShoppeSecurityOptions { SigningKeyFile = KeyFile }, TimeProvider.System).Issue(user, roles, TimeSpan.FromHours(1), scope);

    /// <summary>A token for <paramref name="user"/> with <paramref name="roles"/>, valid an hour.</summary>
    public string Token(string user, params string[] roles) => Token(user, roles, scope: null);

    /// <summary>A client of the service carrying <paramref name="user"/>'s token.</summary>
    public HttpClient ClientFor(string user, params string[] roles) => ClientWithToken(Token(user, roles));

    /// <summary>A client of the service carrying <paramref name="token"/>.</summary>
    public HttpClient ClientWithToken(string token)
    {
        var client = CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    /// <inheritdoc/>
    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        foreach (var (k, v) in _settings)
        {
            if (v is not null)
            {
                builder.UseSetting(k, v);
            }
        }

        if (Clock is { } clock)
        {
            builder.ConfigureTestServices(services => services.AddSingleton(clock));
        }
    }
}

/// <summary>
/// A service as its own tests would start it, for tests of something else that talks to it (the CLI's): only the
/// settings given, on top of a data folder and signing key of its own.
/// </summary>
/// <typeparam name="TEntryPoint">A type in the service's assembly (its Program).</typeparam>
public sealed class TestService<TEntryPoint>(string dataRoot, IDictionary<string, string?>? settings = null, string? keyFile = null, int? port = null)
    : ShoppeServiceFactory<TEntryPoint>(dataRoot, new Dictionary<string, string?>(), settings, keyFile, port)
    where TEntryPoint : class;
