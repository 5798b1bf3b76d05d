using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace Shoppe.Cache.Tests;

/// <summary>
/// Real peers on loopback (installed by eng/install-test-deps.sh): the cache reads from an nginx origin and an
/// XRootD HTTP origin, and curl and davix-get read through the cache; every byte is checked by sha256 against
/// the origin's file.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class InteropTests : IAsyncLifetime
{
    private const int MiB = 1 << 20;
    private readonly string _work = Directory.CreateTempSubdirectory("shoppe-interop-").FullName;
    private readonly List<Process> _peers = [];
    private readonly byte[] _file = RandomNumberGenerator.GetBytes((3 * MiB) + 4321);
    private int _nginxPort;
    private int _xrootdHttpPort;
    private CacheServiceFactory? _cache;
    private string _cacheUrl = "";
    private string _token = "";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string Data => Path.Combine(_work, "data");

    public async ValueTask InitializeAsync()
    {
        Directory.CreateDirectory(Path.Combine(Data, "store", "mc"));
        await File.WriteAllBytesAsync(Path.Combine(Data, "store", "mc", "nano.root"), _file, Ct);
        // Both peers run their workers as unprivileged users: let them read the data.
        foreach (var path in new[] { _work, Data, Path.Combine(Data, "store"), Path.Combine(Data, "store", "mc") })
        {
            File.SetUnixFileMode(path, (UnixFileMode)0b111_101_101);
        }

        File.SetUnixFileMode(Path.Combine(Data, "store", "mc", "nano.root"), (UnixFileMode)0b110_100_100);
        StartNginx();
        StartXrootd();
        await WaitListeningAsync(_nginxPort);
        await WaitListeningAsync(_xrootdHttpPort);

        var settings = new Dictionary<string, string?>
        {
            ["Cache:Origins:0:Name"] = "nginx",
            ["Cache:Origins:0:Prefix"] = "/nginx",
            ["Cache:Origins:0:Url"] = $"http://127.0.0.1:{_nginxPort}",
            ["Cache:Origins:1:Name"] = "xrootd",
            ["Cache:Origins:1:Prefix"] = "/xrootd",
            ["Cache:Origins:1:Url"] = $"http://127.0.0.1:{_xrootdHttpPort}",
        };
        _cache = new CacheServiceFactory(Path.Combine(_work, "cache"), settings, kestrel: true);
        using var client = _cache.CreateClient();
        _cacheUrl = client.BaseAddress!.ToString().TrimEnd('/');
        _token = _cache.Token("alice");
    }

    public async ValueTask DisposeAsync()
    {
        if (_cache is not null)
        {
            await _cache.DisposeAsync();
        }

        foreach (var peer in _peers)
        {
            if (!peer.HasExited)
            {
                peer.Kill(entireProcessTree: true);
                await peer.WaitForExitAsync();
            }

            peer.Dispose();
        }

        await TestFolders.DeleteAsync(_work);
    }



    private Process Start(string file, IEnumerable<string> args, IDictionary<string, string>? env = null)
    {
        var start = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var (k, v) in env ?? new Dictionary<string, string>())
        {
            start.Environment[k] = v;
        }

        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _peers.Add(process);
        return process;
    }

    private void StartNginx()
    {
        _nginxPort = Loopback.FreePort();
        var run = Directory.CreateDirectory(Path.Combine(_work, "nginx")).FullName;
        var config = Path.Combine(run, "nginx.conf");
        File.WriteAllText(config, $$"""
            daemon off;
            pid {{run}}/nginx.pid;
            error_log {{run}}/error.log;
            events { worker_connections 256; }
            http {
                access_log off;
                client_body_temp_path {{run}}/body;
                proxy_temp_path {{run}}/proxy;
                fastcgi_temp_path {{run}}/fastcgi;
                uwsgi_temp_path {{run}}/uwsgi;
                scgi_temp_path {{run}}/scgi;
                server { listen 127.0.0.1:{{_nginxPort}}; root {{Data}}; }
            }
            """);
        Start(Loopback.Tool("nginx"), ["-c", config, "-p", run]);
    }

    private void StartXrootd()
    {
        _xrootdHttpPort = Loopback.FreePort();
        var run = Directory.CreateDirectory(Path.Combine(_work, "xrootd")).FullName;
        File.SetUnixFileMode(_work, (UnixFileMode)0b111_111_111);
        File.SetUnixFileMode(run, (UnixFileMode)0b111_111_111);
        var config = Path.Combine(run, "xrootd.cfg");
        File.WriteAllText(config, $"""
            all.role server
            all.export /
            oss.localroot {Data}
            all.adminpath {run}/admin
            all.pidpath {run}
            xrd.port {Loopback.FreePort()}
            xrd.protocol XrdHttp:{_xrootdHttpPort} libXrdHttp.so
            """);
        var shim = Path.Combine(Loopback.RepoRoot(), "eng", "peers", "bin", "bindlo.so");
        Assert.True(File.Exists(shim), $"{shim} is missing: eng/install-test-deps.sh builds it.");
        Start(Loopback.Tool("xrootd"), ["-c", config, "-l", Path.Combine(run, "xrootd.log"), "-R", "xrootd", "-n", "shoppe-interop"],
            new Dictionary<string, string> { ["LD_PRELOAD"] = shim });
    }

    private async Task WaitListeningAsync(int port)
    {
        for (var i = 0; i < 200; i++)
        {
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Loopback, port, Ct);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(50, Ct);
            }
        }

        Assert.Fail($"No peer came up on 127.0.0.1:{port}; logs under {_work}.");
    }

    private async Task<byte[]> RunClientAsync(string tool, params string[] args)
    {
        var output = Path.Combine(_work, $"out-{Guid.NewGuid():N}");
        var start = new ProcessStartInfo(Loopback.Tool(tool), [.. args, "-o", output])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync(Ct);
        await process.StandardOutput.ReadToEndAsync(Ct);
        await process.WaitForExitAsync(Ct);
        Assert.True(process.ExitCode == 0, $"{tool} {string.Join(' ', args)} exited {process.ExitCode}: {await stderr}");
        return await File.ReadAllBytesAsync(output, Ct);
    }

    [Theory]
    [InlineData("nginx")]
    [InlineData("xrootd")]
    public async Task CurlAndDavix_ReadThroughTheCache_EveryByteAsTheOriginHasIt(string origin)
    {
        var url = $"{_cacheUrl}/{origin}/store/mc/nano.root";
        var auth = $"Authorization: Bearer {_token}";
        var expected = SHA256.HashData(_file);

        // Cold through curl, warm through davix-get, then ranges across block boundaries with curl.
        Assert.Equal(expected, SHA256.HashData(await RunClientAsync("curl", "-sf", "-H", auth, url)));
        Assert.Equal(expected, SHA256.HashData(await RunClientAsync("davix-get", "-H", auth, url)));
        Assert.Equal(_file[(MiB - 100)..((2 * MiB) + 100)], await RunClientAsync("curl", "-sf", "-H", auth, "-r", $"{MiB - 100}-{(2 * MiB) + 99}", url));
        Assert.Equal(_file[^1000..], await RunClientAsync("curl", "-sf", "-H", auth, "-r", "-1000", url));
    }
}
