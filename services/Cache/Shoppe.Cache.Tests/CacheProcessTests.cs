using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace Shoppe.Cache.Tests;

/// <summary>The cache as its own process, killed with SIGKILL in the middle of filling a file.</summary>
public sealed class CacheProcessTests : IAsyncLifetime
{
    private const int MiB = 1 << 20;
    private readonly string _dataRoot = Directory.CreateTempSubdirectory("shoppe-cache-proc-").FullName;
    private readonly TestOrigin _origin = new();
    private readonly byte[] _file = RandomNumberGenerator.GetBytes((12 * MiB) + 777);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _origin.Write("data/big.root", _file);
        await _origin.StartAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await _origin.DisposeAsync();
        Directory.Delete(_dataRoot, recursive: true);
    }

    private Process StartCache(int port)
    {
        var start = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "Shoppe.Cache.dll")])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        start.Environment["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}";
        start.Environment["Shoppe__DataRoot"] = _dataRoot;
        start.Environment["Shoppe__Security__SigningKeyFile"] = Path.Combine(_dataRoot, "keys", "signing.key");
        start.Environment["Cache__Origins__0__Name"] = "origin";
        start.Environment["Cache__Origins__0__Url"] = _origin.Url;
        start.Environment["Cache__AllowAnonymousReads"] = "true";
        start.Environment["Cache__FlushInterval"] = "00:00:00.100";
        start.Environment["Cache__FetchRunBlocks"] = "1";
        start.Environment["Cache__ReadAheadBlocks"] = "0";
        start.Environment["Cache__RevalidateAfter"] = "00:00:00";
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static Task WaitHealthyAsync(HttpClient client) =>
        Loopback.WaitAliveAsync(client.BaseAddress!.GetLeftPart(UriPartial.Authority), cancellationToken: Ct);

    private void Authorize(HttpClient client) =>
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer",
            new Shoppe.Security.TokenIssuer(new Shoppe.Security.ShoppeSecurityOptions { SigningKeyFile = Path.Combine(_dataRoot, "keys", "signing.key") }, TimeProvider.System)
                .Issue("alice", [], TimeSpan.FromHours(1)));

    [Fact]
    public async Task KilledDuringAFill_ThenRestarted_ServesNoCorruptByte()
    {
        var port = Loopback.FreePort();
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromMinutes(2) };
        _origin.BytesPerSecond = MiB;
        var first = StartCache(port);
        try
        {
            await WaitHealthyAsync(client);
            Authorize(client);
            var fill = client.GetAsync("/data/big.root", HttpCompletionOption.ResponseHeadersRead, Ct);
            // Kill once some blocks are written (and, a flush later, named in the block map) and more are on the way.
            var watch = Stopwatch.StartNew();
            while (watch.Elapsed < TimeSpan.FromSeconds(30) && (await client.GetFromJsonAsync<CacheStats>("/v1/stats", Ct))!.CachedBytes < 3 * MiB)
            {
                await Task.Delay(50, Ct);
            }

            await Task.Delay(300, Ct);
            first.Kill();
            await first.WaitForExitAsync(Ct);
            try
            {
                using var cut = await fill;
                await cut.Content.ReadAsByteArrayAsync(Ct);
            }
            catch (HttpRequestException)
            {
                // The body was cut short by the kill: expected.
            }
        }
        finally
        {
            first.Dispose();
        }

        Assert.InRange(_origin.GetsOf("/data/big.root"), 3, 12);
        _origin.BytesPerSecond = 0;
        using var second = StartCache(port);
        try
        {
            await WaitHealthyAsync(client);
            var kept = (await client.GetFromJsonAsync<CacheStats>("/v1/stats", Ct))!;
            var body = await client.GetByteArrayAsync("/data/big.root", Ct);
            var after = (await client.GetFromJsonAsync<CacheStats>("/v1/stats", Ct))!;

            Assert.Equal(SHA256.HashData(_file), SHA256.HashData(body));
            Assert.True(kept.CachedBytes > 0, "no block survived the kill: the restart path was not exercised");
            Assert.True(after.BytesFromOrigin <= _file.Length - kept.CachedBytes, $"{after.BytesFromOrigin} bytes fetched again");
        }
        finally
        {
            second.Kill();
            await second.WaitForExitAsync(Ct);
        }
    }
}
