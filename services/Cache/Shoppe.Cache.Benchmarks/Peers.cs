using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Shoppe.Cache.Tests;
using Shoppe.Security;

[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]

namespace Shoppe.Cache.Benchmarks;

/// <summary>The benchmark's servers, each a real process on loopback, started and stopped by name.</summary>
internal sealed class Peers(string work) : IAsyncDisposable
{
    private readonly Dictionary<string, Process> _running = [];
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


    private static string Shim => Path.Combine(Loopback.RepoRoot(), "eng", "peers", "bin", "bindlo.so");

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

    private async Task<string> StartAsync(string name, string file, IEnumerable<string> args, int port, IDictionary<string, string>? env = null)
    {
        // In the folder of our service's files, as a facility starts it: its appsettings.json is read from there.
        var start = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = AppContext.BaseDirectory };
        foreach (var (k, v) in env ?? new Dictionary<string, string>())
        {
            start.Environment[k] = v;
        }

        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _running[name] = process;
        for (var i = 0; i < 400; i++)
        {
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Loopback, port);
                await Task.Delay(200);
                return $"http://127.0.0.1:{port}";
            }
            catch (SocketException)
            {
                if (process.HasExited)
                {
                    throw new InvalidOperationException($"{name} exited with {process.ExitCode}; its files are under {work}.");
                }

                await Task.Delay(50);
            }
        }

        throw new InvalidOperationException($"{name} did not listen on {port}.");
    }

    public Task<string> StartOriginAsync(string data)
    {
        var run = Fresh("xrootd-origin");
        var http = Loopback.FreePort();
        _originDataPort = Loopback.FreePort();
        var config = Path.Combine(run, "origin.cfg");
        File.WriteAllText(config, $"""
            all.role server
            all.export /
            oss.localroot {data}
            all.adminpath {run}/admin
            all.pidpath {run}
            xrd.port {_originDataPort}
            xrd.protocol XrdHttp:{http} libXrdHttp.so
            """);
        return StartAsync("origin", Loopback.Tool("xrootd"), ["-c", config, "-l", Path.Combine(run, "xrootd.log"), "-R", "xrootd", "-n", "bench-origin"], http,
            new Dictionary<string, string> { ["LD_PRELOAD"] = Shim });
    }

    /// <summary>XCache as the XRootD documentation configures it: pss to the origin's root:// port, pfc with 1 MiB blocks.</summary>
    public Task<string> StartXCacheAsync(int? originPort = null)
    {
        var run = Fresh("xcache");
        var cache = Directory.CreateDirectory(Path.Combine(run, "cache")).FullName;
        File.SetUnixFileMode(cache, (UnixFileMode)0b111_111_111);
        var http = Loopback.FreePort();
        var config = Path.Combine(run, "xcache.cfg");
        File.WriteAllText(config, $"""
            all.role server
            all.export /
            all.adminpath {run}/admin
            all.pidpath {run}
            xrd.port {Loopback.FreePort()}
            xrd.protocol XrdHttp:{http} libXrdHttp.so
            ofs.osslib libXrdPss.so
            pss.cachelib libXrdPfc.so
            pss.origin 127.0.0.1:{originPort ?? _originDataPort}
            oss.localroot {cache}
            pfc.ram 2g
            pfc.blocksize 1M
            pfc.prefetch 10
            pfc.diskusage 0.90 0.95
            pfc.trace warning
            """);
        return StartAsync("xcache", Loopback.Tool("xrootd"), ["-c", config, "-l", Path.Combine(run, "xrootd.log"), "-R", "xrootd", "-n", "bench-xcache"], http,
            new Dictionary<string, string> { ["LD_PRELOAD"] = Shim });
    }

    /// <summary>nginx proxy_cache, whole objects, with the settings an XRootD HTTP origin needs (forced ranges).</summary>
    public Task<string> StartNginxAsync(string origin)
    {
        var run = Fresh("nginx");
        var port = Loopback.FreePort();
        var config = Path.Combine(run, "nginx.conf");
        File.WriteAllText(config, $$"""
            user root;
            worker_processes 2;
            daemon off;
            pid {{run}}/nginx.pid;
            error_log {{run}}/error.log warn;
            events { worker_connections 1024; }
            http {
                access_log off;
                sendfile off; keepalive_timeout 65;
                client_body_temp_path {{run}}/body; proxy_temp_path {{run}}/proxy;
                fastcgi_temp_path {{run}}/fastcgi; uwsgi_temp_path {{run}}/uwsgi; scgi_temp_path {{run}}/scgi;
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
            }
            """);
        return StartAsync("nginx", Loopback.Tool("nginx"), ["-c", config, "-p", run], port);
    }

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
        return StartAsync("shoppe", "dotnet", [Path.Combine(AppContext.BaseDirectory, "Shoppe.Cache.dll")], port, new Dictionary<string, string>(tuning)
        {
            ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}",
            ["DOTNET_ENVIRONMENT"] = "Production",
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["Shoppe__DataRoot"] = root,
            ["Shoppe__Security__SigningKeyFile"] = KeyFile,
            ["Cache__Origins__0__Name"] = "origin",
            ["Cache__Origins__0__Url"] = origin,
        });
    }

    public async Task StopAsync(string name)
    {
        if (_running.Remove(name, out var process))
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            process.Dispose();
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
