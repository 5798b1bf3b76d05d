using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;

namespace Shoppe.Cache.Tests;

/// <summary>
/// The cache on a real 6 MiB file system (a tmpfs mounted for the test) that runs out of space: idle files
/// are evicted to make room, and with nothing to evict the reader gets 507, never a crash.
/// </summary>
public sealed class DiskFullTests : IAsyncLifetime
{
    private const int MiB = 1 << 20;
    private readonly string _work = Directory.CreateTempSubdirectory("shoppe-diskfull-").FullName;
    private readonly TestOrigin _origin = new();
    private SmallDisk? _disk;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => await _origin.StartAsync();

    public async ValueTask DisposeAsync()
    {
        if (_disk is not null)
        {
            await _disk.DisposeAsync();
        }

        await _origin.DisposeAsync();
        await TestFolders.DeleteAsync(_work);
    }

    /// <summary>Mounts a small tmpfs for the cache, or skips where this machine does not allow it.</summary>
    private async Task<string> SmallDiskAsync()
    {
        _disk = await SmallDisk.MountAsync(_work, "6m", Ct);
        return _disk.Path;
    }

    private CacheServiceFactory Cache(string root) => new(_work, new Dictionary<string, string?>
    {
        ["Cache:Root"] = root,
        ["Cache:Origins:0:Name"] = "origin",
        ["Cache:Origins:0:Url"] = _origin.Url,
        ["Cache:ReadAheadBlocks"] = "0",
        ["Cache:FetchRunBlocks"] = "1",
    });

    [Fact]
    public async Task AFullDisk_EvictsIdleFilesToMakeRoom()
    {
        var root = await SmallDiskAsync();
        _origin.Write("a.bin", RandomNumberGenerator.GetBytes(3 * MiB));
        var b = RandomNumberGenerator.GetBytes(4 * MiB);
        _origin.Write("b.bin", b);
        await using var cache = Cache(root);
        using var client = cache.ClientFor("alice");

        Assert.Equal(3 * MiB, (await client.GetByteArrayAsync("/a.bin", Ct)).Length);
        var read = await client.GetByteArrayAsync("/b.bin", Ct);

        Assert.Equal(SHA256.HashData(b), SHA256.HashData(read));
        var stats = (await client.GetFromJsonAsync<CacheStats>("/v1/stats", Ct))!;
        Assert.True(stats.Evictions >= 1, "a.bin should have made room");
        Assert.Equal(0, stats.DiskFull);
    }

    [Fact]
    public async Task AFullDisk_WithNothingToEvict_Is507_AndTheCacheGoesOn()
    {
        var root = await SmallDiskAsync();
        var c = RandomNumberGenerator.GetBytes(10 * MiB);
        _origin.Write("c.bin", c);
        await using var cache = Cache(root);
        using var client = cache.ClientFor("alice");
        using (var warm = new HttpRequestMessage(HttpMethod.Get, "/c.bin"))
        {
            warm.Headers.Range = new System.Net.Http.Headers.RangeHeaderValue(0, (5 * MiB) - 1);
            using var response = await client.SendAsync(warm, Ct);
            Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
        }

        // The only file is the one being read: nothing to evict, and a sixth MiB does not fit.
        using var full = new HttpRequestMessage(HttpMethod.Get, "/c.bin");
        full.Headers.Range = new System.Net.Http.Headers.RangeHeaderValue(7 * MiB, (7 * MiB) + 99);
        using var refused = await client.SendAsync(full, Ct);

        Assert.Equal(HttpStatusCode.InsufficientStorage, refused.StatusCode);
        Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
        using var again = new HttpRequestMessage(HttpMethod.Get, "/c.bin");
        again.Headers.Range = new System.Net.Http.Headers.RangeHeaderValue(100, 199);
        using var served = await client.SendAsync(again, Ct);
        Assert.Equal(HttpStatusCode.PartialContent, served.StatusCode);
        Assert.Equal(c[100..200], await served.Content.ReadAsByteArrayAsync(Ct));
    }
}
