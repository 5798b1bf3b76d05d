using System.Diagnostics;
using System.Security.Cryptography;

namespace Shoppe.Transfer.Tests;

/// <summary>
/// HTTP-TPC against the real peers from Debian (eng/install-test-deps.sh): an XRootD endpoint with XrdHttp and its
/// TPC handler, and davix-cp driving copies. Pull and push in both directions; every byte checked.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class InteropTests : IAsyncLifetime
{
    private readonly string _work = Directory.CreateTempSubdirectory("shoppe-tpc-interop-").FullName;
    private XrootdPeer _xrootd = null!;
    private TransferServiceFactory _ours = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string XrootdData => _xrootd.Data;

    private string Xrootd => _xrootd.Url;

    public async ValueTask InitializeAsync()
    {
        _xrootd = await XrootdPeer.StartAsync(_work, new XrootdOptions { Name = "xrootd", ThirdPartyCopy = true }, Ct);
        _ours = new TransferServiceFactory(Path.Combine(_work, "ours"), Path.Combine(_work, "signing.key"));
        _ = _ours.Url;
    }

    public async ValueTask DisposeAsync()
    {
        await _ours.DisposeAsync();
        await _xrootd.DisposeAsync();

        await TestFolders.DeleteAsync(_work);
    }

    private static async Task RunAsync(string file, Dictionary<string, string> env, params string[] args)
    {
        var start = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var (k, v) in env)
        {
            start.Environment[k] = v;
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync(Ct);
        var error = process.StandardError.ReadToEndAsync(Ct);
        await process.WaitForExitAsync(Ct).WaitAsync(TimeSpan.FromMinutes(2), Ct);
        Assert.True(process.ExitCode == 0, $"{Path.GetFileName(file)} {string.Join(' ', args)} exited {process.ExitCode}: {await error}{await output}");
    }

    private byte[] PutXrootd(string name, int length)
    {
        var data = RandomNumberGenerator.GetBytes(length);
        File.WriteAllBytes(Path.Combine(XrootdData, name), data);
        File.SetUnixFileMode(Path.Combine(XrootdData, name), (UnixFileMode)0b110_110_110);
        return data;
    }

    private byte[] PutOurs(string name, int length)
    {
        var data = RandomNumberGenerator.GetBytes(length);
        Directory.CreateDirectory(_ours.Storage);
        File.WriteAllBytes(Path.Combine(_ours.Storage, name), data);
        return data;
    }

    private static async Task<string> CopyAsync(HttpClient client, string url, Dictionary<string, string> headers)
    {
        using var request = new HttpRequestMessage(new HttpMethod("COPY"), url);
        foreach (var (k, v) in headers)
        {
            request.Headers.TryAddWithoutValidation(k, v);
        }

        using var response = await client.SendAsync(request, Ct);
        var body = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {body}");
        return body;
    }

    [Fact]
    public async Task OursPullsFromXrootd_WithChecksumVerification()
    {
        var data = PutXrootd("pull.bin", 8_000_000);
        using var ours = _ours.ClientWith("storage.modify:/");

        var body = await CopyAsync(ours, "/from-xrootd.bin", new() { ["Source"] = $"{Xrootd}/pull.bin", ["RequireChecksumVerification"] = "true" });

        Assert.EndsWith("success: Created\n", body, StringComparison.Ordinal);
        Assert.Equal(data, File.ReadAllBytes(Path.Combine(_ours.Storage, "from-xrootd.bin")));
    }

    [Fact]
    public async Task OursPushesToXrootd()
    {
        var data = PutOurs("push.bin", 6_000_000);
        using var ours = _ours.ClientWith("storage.read:/");

        var body = await CopyAsync(ours, "/push.bin", new() { ["Destination"] = $"{Xrootd}/from-ours.bin" });

        Assert.EndsWith("success: Created\n", body, StringComparison.Ordinal);
        Assert.Equal(data, File.ReadAllBytes(Path.Combine(XrootdData, "from-ours.bin")));
    }

    [Fact]
    public async Task XrootdsMarkers_AreReadByOurParser()
    {
        PutOurs("marked.bin", 3_000_000);
        using var plain = new HttpClient();
        using var request = new HttpRequestMessage(new HttpMethod("COPY"), $"{Xrootd}/marked.bin");
        request.Headers.TryAddWithoutValidation("Source", new Uri(_ours.Url, "/marked.bin").AbsoluteUri);
        request.Headers.TryAddWithoutValidation("TransferHeaderAuthorization", "Bearer " + _ours.Token("alice", "storage.read:/"));
        using var response = await plain.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Ct);
        var seen = new List<Shoppe.Transfer.Tpc.PerfMarker>();

        var outcome = await Shoppe.Transfer.Tpc.PerfMarkers.ReadAsync(await response.Content.ReadAsStreamAsync(Ct), seen.Add, Ct);

        Assert.True(outcome.Success, outcome.Message);
        Assert.Equal("Created", outcome.Message);
        var first = Assert.Single(seen.Take(1));
        Assert.Equal((0, 1), (first.StripeIndex, first.StripeCount));
        Assert.StartsWith("tcp:127.0.0.1:", first.RemoteConnections, StringComparison.Ordinal);
        Assert.InRange(first.Timestamp, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddMinutes(1));
        Assert.Equal(seen, outcome.Markers);
    }

    [Fact]
    public async Task XrootdPullsFromOurs_WithTheForwardedToken()
    {
        var data = PutOurs("served.bin", 7_000_000);
        using var plain = new HttpClient();

        var body = await CopyAsync(plain, $"{Xrootd}/pulled-by-xrootd.bin", new()
        {
            ["Source"] = new Uri(_ours.Url, "/served.bin").AbsoluteUri,
            ["TransferHeaderAuthorization"] = "Bearer " + _ours.Token("alice", "storage.read:/"),
            ["Credential"] = "none",
        });

        Assert.Contains("success: Created", body, StringComparison.Ordinal);
        Assert.Equal(data, File.ReadAllBytes(Path.Combine(XrootdData, "pulled-by-xrootd.bin")));
    }

    [Fact]
    public async Task XrootdPushesToOurs_WithTheForwardedToken()
    {
        var data = PutXrootd("to-push.bin", 5_000_000);
        using var plain = new HttpClient();

        var body = await CopyAsync(plain, $"{Xrootd}/to-push.bin", new()
        {
            ["Destination"] = new Uri(_ours.Url, "/pushed-by-xrootd.bin").AbsoluteUri,
            ["TransferHeaderAuthorization"] = "Bearer " + _ours.Token("alice", "storage.create:/"),
            ["Credential"] = "none",
        });

        Assert.Contains("success: Created", body, StringComparison.Ordinal);
        Assert.Equal(data, File.ReadAllBytes(Path.Combine(_ours.Storage, "pushed-by-xrootd.bin")));
    }

    [Theory]
    [InlineData("pull")]
    [InlineData("push")]
    public async Task DavixCp_DrivesACopyWithOurEndpointOnEitherSide(string mode)
    {
        // pull: davix asks us (the destination) to fetch from XRootD; push: davix asks us (the source) to send to XRootD.
        var token = _ours.Token("alice", "storage.read:/ storage.modify:/");
        byte[] data;
        string source, destination, landed;
        if (mode == "pull")
        {
            data = PutXrootd($"davix-{mode}.bin", 4_000_000);
            (source, destination, landed) = ($"{Xrootd}/davix-{mode}.bin", new Uri(_ours.Url, $"/davix-{mode}.bin").AbsoluteUri, Path.Combine(_ours.Storage, $"davix-{mode}.bin"));
        }
        else
        {
            data = PutOurs($"davix-{mode}.bin", 4_000_000);
            (source, destination, landed) = (new Uri(_ours.Url, $"/davix-{mode}.bin").AbsoluteUri, $"{Xrootd}/davix-{mode}.bin", Path.Combine(XrootdData, $"davix-{mode}.bin"));
        }

        await RunAsync(Repository.Tool("davix-cp"), [], "-k", "--copy-mode", mode, "-H", $"Authorization: Bearer {token}", source, destination);

        Assert.Equal(data, File.ReadAllBytes(landed));
    }

    [Theory]
    [InlineData("pull")]
    [InlineData("push")]
    public async Task GfalCopy_DrivesACopyWithOurEndpointOnEitherSide(string mode)
    {
        // gfal2 finds the token as WLCG bearer token discovery says (BEARER_TOKEN); it asks the storage for no token
        // of its own (RETRIEVE_BEARER_TOKEN off: that is an XRootD/dCache macaroon endpoint we do not serve).
        var token = _ours.Token("alice", "storage.read:/ storage.modify:/");
        byte[] data;
        string source, destination, landed;
        if (mode == "pull")
        {
            data = PutXrootd($"gfal-{mode}.bin", 3_000_000);
            (source, destination, landed) = ($"{Xrootd}/gfal-{mode}.bin", new Uri(_ours.Url, $"/gfal-{mode}.bin").AbsoluteUri, Path.Combine(_ours.Storage, $"gfal-{mode}.bin"));
        }
        else
        {
            data = PutOurs($"gfal-{mode}.bin", 3_000_000);
            (source, destination, landed) = (new Uri(_ours.Url, $"/gfal-{mode}.bin").AbsoluteUri, $"{Xrootd}/gfal-{mode}.bin", Path.Combine(XrootdData, $"gfal-{mode}.bin"));
        }

        await RunAsync(Repository.Tool("gfal-copy"), new Dictionary<string, string> { ["GFAL_PYTHONBIN"] = "/usr/bin/python3", ["BEARER_TOKEN"] = token },
            "-f", "--copy-mode", mode, "-D", "HTTP PLUGIN:RETRIEVE_BEARER_TOKEN=false", "-D", "HTTP PLUGIN:ENABLE_FALLBACK_TPC_COPY=false", source, destination);

        Assert.Equal(data, File.ReadAllBytes(landed));
    }
}
