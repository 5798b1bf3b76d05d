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
    private readonly List<IAsyncDisposable> _peers = [];
    private readonly byte[] _file = RandomNumberGenerator.GetBytes((3 * MiB) + 4321);
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
        var nginx = await NginxPeer.ServeFolderAsync(_work, "nginx", Data, Ct);
        _peers.Add(nginx);
        var xrootd = await XrootdPeer.StartAsync(_work, new XrootdOptions { Name = "xrootd", Data = Data }, Ct);
        _peers.Add(xrootd);

        var settings = new Dictionary<string, string?>
        {
            ["Cache:Origins:0:Name"] = "nginx",
            ["Cache:Origins:0:Prefix"] = "/nginx",
            ["Cache:Origins:0:Url"] = nginx.Url,
            ["Cache:Origins:1:Name"] = "xrootd",
            ["Cache:Origins:1:Prefix"] = "/xrootd",
            ["Cache:Origins:1:Url"] = xrootd.Url,
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
            await peer.DisposeAsync();
        }

        await TestFolders.DeleteAsync(_work);
    }


    private async Task<byte[]> RunClientAsync(string tool, params string[] args)
    {
        var output = Path.Combine(_work, $"out-{Guid.NewGuid():N}");
        var start = new ProcessStartInfo(Repository.Tool(tool), [.. args, "-o", output])
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
