using Shoppe.Testing;
using Shoppe.Security;

[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]

namespace Shoppe.Cache.Benchmarks;

/// <summary>The benchmark's servers, each a real process on loopback, started and stopped by name.</summary>
internal sealed class Peers(string work) : IAsyncDisposable
{
    private readonly Dictionary<string, IAsyncDisposable> _running = [];
    private int _originDataPort;

    /// <summary>The origin's root:// port (XCache reads it there).</summary>
    public int OriginDataPort => _originDataPort;

    private string KeyFile => Path.Combine(work, "keys", "signing.key");

    /// <summary>A token for our cache (the others have no authentication here).</summary>
    public string ShoppeToken => new TokenIssuer(new ShoppeSecurityOptions { SigningKeyFile = KeyFile }, TimeProvider.System)
        .Issue("bench", [], TimeSpan.FromHours(4));

    /// <summary>Lets the peers' own users (xrootd, nginx's workers) read the origin's files.</summary>
    public static void OpenUp(string folder)
    {
        foreach (var dir in Directory.EnumerateDirectories(folder, "*", SearchOption.AllDirectories).Append(folder))
        {
            File.SetUnixFileMode(dir, (UnixFileMode)0b111_101_101);
        }

        foreach (var file in Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories))
        {
            File.SetUnixFileMode(file, (UnixFileMode)0b110_100_100);
        }
    }

    /// <summary>A fresh folder the peers' users may write in.</summary>
    private string Fresh(string name)
    {
        var dir = Path.Combine(work, name);
        if (Directory.Exists(dir))
        {
            Directory.Delete(dir, recursive: true);
        }

        Directory.CreateDirectory(dir);
        File.SetUnixFileMode(dir, (UnixFileMode)0b111_111_111);
        return dir;
    }

    private async Task<string> RunAsync(string name, Func<Task<PeerProcess>> start)
    {
        var peer = await start();
        _running[name] = peer;
        return peer.Url;
    }

    public async Task<string> StartOriginAsync(string data)
    {
        var origin = await XrootdPeer.StartAsync(Fresh("xrootd-origin"), new XrootdOptions { Name = "origin", Data = data });
        _running["origin"] = origin;
        _originDataPort = origin.RootPort;
        return origin.Url;
    }

    /// <summary>XCache as the XRootD documentation configures it: pss to the origin's root:// port, pfc with 1 MiB blocks.</summary>
    public async Task<string> StartXCacheAsync(int? originPort = null)
    {
        var xcache = await XrootdPeer.StartAsync(Fresh("xcache"), new XrootdOptions { Name = "xcache", CacheOfRootPort = originPort ?? _originDataPort });
        _running["xcache"] = xcache;
        return xcache.Url;
    }

    /// <summary>nginx proxy_cache, whole objects, with the settings an XRootD HTTP origin needs (forced ranges).</summary>
    public Task<string> StartNginxAsync(string origin) => RunAsync("nginx", () => NginxPeer.StartAsync(Fresh("nginx"), "run", (port, run) => $$"""
            sendfile off; keepalive_timeout 65;
            proxy_cache_path {{run}}/cache levels=1:2 keys_zone=whole:10m max_size=20g inactive=1d use_temp_path=off;
            upstream origin { server {{new Uri(origin).Authority}}; keepalive 32; }
            server {
                listen 127.0.0.1:{{port}};
                location / {
                    proxy_pass http://origin;
                    proxy_http_version 1.1; proxy_set_header Connection "";
                    proxy_cache whole; proxy_cache_key $uri;
                    proxy_cache_valid 200 206 1d;
                    proxy_force_ranges on;
                    proxy_cache_lock on; proxy_cache_lock_timeout 600s; proxy_cache_lock_age 600s;
                    proxy_buffering on; proxy_buffers 64 64k;
                }
            }
            """, main: "user root;\nworker_processes 2;"));

    /// <summary>Our cache as the facility runs it (its own process, its default settings, tokens required).</summary>
    public Task<string> StartShoppeAsync(string origin)
    {
        var root = Fresh("shoppe");
        var port = Loopback.FreePort();
        LocalSigningKey.LoadOrCreate(KeyFile);
        // Cache__* settings in the benchmark's environment reach the cache (to try a setting without a rebuild).
        var tuning = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .Where(e => ((string)e.Key).StartsWith("Cache__", StringComparison.Ordinal) || ((string)e.Key).StartsWith("Logging__", StringComparison.Ordinal))
            .ToDictionary(e => (string)e.Key, e => (string)e.Value!);
        // In the folder of our service's files, as a facility starts it: its appsettings.json is read from there.
        return RunAsync("shoppe", () => PeerProcess.StartAsync("dotnet", [Path.Combine(AppContext.BaseDirectory, "Shoppe.Cache.dll")], port, new Dictionary<string, string>(tuning)
        {
            ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}",
            ["DOTNET_ENVIRONMENT"] = "Production",
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["Shoppe__DataRoot"] = root,
            ["Shoppe__Security__SigningKeyFile"] = KeyFile,
            ["Cache__Origins__0__Name"] = "origin",
            ["Cache__Origins__0__Url"] = origin,
        }, AppContext.BaseDirectory));
    }

    public async Task StopAsync(string name)
    {
        if (_running.Remove(name, out var peer))
        {
            await peer.DisposeAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var name in _running.Keys.ToList())
        {
            await StopAsync(name);
        }

        Directory.Delete(work, recursive: true);
    }
}
