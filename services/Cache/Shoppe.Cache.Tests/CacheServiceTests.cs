using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.WebUtilities;
using Shoppe.Security;

namespace Shoppe.Cache.Tests;

public sealed class CacheServiceTests : CacheTestBase
{

    private CacheServiceFactory Cache(IDictionary<string, string?>? extra = null, bool kestrel = false, string? root = null)
    {
        var settings = CacheServiceFactory.Origin("xrd", url: OriginServer.Url + "/store", prefix: "/store");
        foreach (var (k, v) in extra ?? new Dictionary<string, string?>())
        {
            settings[k] = v;
        }

        return new CacheServiceFactory(root ?? DataRoot, settings, kestrel);
    }

    private static async Task<byte[]> GetAsync(HttpClient client, string path, string? range = null, HttpStatusCode expected = HttpStatusCode.OK)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (range is not null)
        {
            request.Headers.TryAddWithoutValidation("Range", range);
        }

        using var response = await client.SendAsync(request, Ct);
        Assert.Equal(expected, response.StatusCode);
        return await response.Content.ReadAsByteArrayAsync(Ct);
    }

    [Fact]
    public async Task WholeFile_AndEveryKindOfRange_MatchTheOrigin()
    {
        await using var cache = Cache();
        using var client = cache.ClientFor("alice");

        Assert.Equal(SHA256.HashData(FileBytes), SHA256.HashData(await GetAsync(client, "/store/run1/nano.parquet")));
        Assert.Equal(FileBytes[100..200], await GetAsync(client, "/store/run1/nano.parquet", "bytes=100-199", HttpStatusCode.PartialContent));
        // Across a block boundary, a suffix range and an open range.
        Assert.Equal(FileBytes[(MiB - 10)..(MiB + 10)], await GetAsync(client, "/store/run1/nano.parquet", $"bytes={MiB - 10}-{MiB + 9}", HttpStatusCode.PartialContent));
        Assert.Equal(FileBytes[^500..], await GetAsync(client, "/store/run1/nano.parquet", "bytes=-500", HttpStatusCode.PartialContent));
        Assert.Equal(FileBytes[(4 * MiB)..], await GetAsync(client, "/store/run1/nano.parquet", $"bytes={4 * MiB}-", HttpStatusCode.PartialContent));

        using var head = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/store/run1/nano.parquet"), Ct);
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal(FileBytes.Length, head.Content.Headers.ContentLength);
        Assert.Equal("bytes", head.Headers.AcceptRanges.Single());
        Assert.NotNull(head.Headers.ETag);
        Assert.NotNull(head.Content.Headers.LastModified);

        using var notModified = new HttpRequestMessage(HttpMethod.Get, "/store/run1/nano.parquet");
        notModified.Headers.IfNoneMatch.Add(head.Headers.ETag!);
        Assert.Equal(HttpStatusCode.NotModified, (await client.SendAsync(notModified, Ct)).StatusCode);
    }

    [Fact]
    public async Task Figures_AreTheServicesOwnSinceItStarted_ForOperatorsOnly()
    {
        await using var cache = Cache();
        using var alice = cache.ClientFor("alice");
        Assert.Equal(FileBytes.Length, (await GetAsync(alice, "/store/run1/nano.parquet")).Length);

        using var olga = cache.ClientFor("olga", ShoppeClaims.OperatorRole);
        var figures = (await olga.GetFromJsonAsync<List<Shoppe.ServiceDefaults.Figures.ServiceFigure>>("/figures", Ct))!.ToDictionary(f => f.Name);
        // The bytes it sent (a counter's total), what it holds (a gauge observed now), its requests (a histogram).
        Assert.True(figures["shoppe.cache.bytes"].Value >= FileBytes.Length, $"bytes {figures["shoppe.cache.bytes"].Value}");
        Assert.Equal("counter", figures["shoppe.cache.bytes"].Kind);
        Assert.Equal("gauge", figures["shoppe.cache.used"].Kind);
        Assert.True(figures["shoppe.cache.used"].Value > 0);
        var requests = figures["http.server.request.duration"];
        Assert.Equal("histogram", requests.Kind);
        Assert.True(requests.Count >= 1 && requests.Mean > 0, $"{requests.Count} requests, mean {requests.Mean}");

        Assert.Equal(HttpStatusCode.Forbidden, (await alice.GetAsync("/figures", Ct)).StatusCode);
        using var anonymous = cache.CreateClient();
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/figures", Ct)).StatusCode);
    }

    [Fact]
    public async Task SeveralRanges_AreAnsweredAsMultipartByteranges()
    {
        await using var cache = Cache();
        using var client = cache.ClientFor("alice");
        (long From, long To)[] asked = [(0, 9), (2 * MiB, (2 * MiB) + 65535), (FileBytes.Length - 3, FileBytes.Length - 1)];
        using var request = new HttpRequestMessage(HttpMethod.Get, "/store/run1/nano.parquet");
        request.Headers.TryAddWithoutValidation("Range", "bytes=" + string.Join(',', asked.Select(r => $"{r.From}-{r.To}")));

        using var response = await client.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
        Assert.Equal("multipart/byteranges", response.Content.Headers.ContentType?.MediaType);
        var boundary = Microsoft.Net.Http.Headers.HeaderUtilities.RemoveQuotes(Microsoft.Net.Http.Headers.MediaTypeHeaderValue.Parse(response.Content.Headers.ContentType!.ToString()).Boundary).Value!;
        var body = await response.Content.ReadAsByteArrayAsync(Ct);
        Assert.Equal(response.Content.Headers.ContentLength, body.Length);
        var reader = new MultipartReader(boundary, new MemoryStream(body));
        foreach (var (from, to) in asked)
        {
            var section = await reader.ReadNextSectionAsync(Ct);
            Assert.NotNull(section);
            Assert.Equal($"bytes {from}-{to}/{FileBytes.Length}", section.Headers!["Content-Range"].ToString());
            using var part = new MemoryStream();
            await section.Body.CopyToAsync(part, Ct);
            Assert.Equal(FileBytes[(int)from..(int)(to + 1)], part.ToArray());
        }

        Assert.Null(await reader.ReadNextSectionAsync(Ct));
    }

    [Fact]
    public async Task ARangeOutsideTheFile_Is416WithTheLength()
    {
        await using var cache = Cache();
        using var client = cache.ClientFor("alice");
        using var request = new HttpRequestMessage(HttpMethod.Get, "/store/run1/nano.parquet");
        request.Headers.TryAddWithoutValidation("Range", $"bytes={FileBytes.Length}-{FileBytes.Length + 10}");

        using var response = await client.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, response.StatusCode);
        Assert.Equal($"bytes */{FileBytes.Length}", response.Content.Headers.ContentRange?.ToString());
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Theory]
    [InlineData("/store/../etc/passwd")]
    [InlineData("/store/run1/..%2F..%2Fetc%2Fpasswd")]
    [InlineData("/store/%2e%2e/%2e%2e/etc/passwd")]
    [InlineData("/store//etc/passwd")]
    [InlineData("/store/run1\\..\\nano.parquet")]
    [InlineData("//etc/passwd")]
    [InlineData("/store/run1/nano.parquet%00.txt")]
    public async Task Paths_ThatCouldLeaveTheNamespace_AreRefused(string target)
    {
        await using var cache = Cache(new Dictionary<string, string?> { ["Cache:AllowAnonymousReads"] = "true" }, kestrel: true);
        using var client = cache.CreateClient();
        var port = client.BaseAddress!.Port;

        var status = await RawStatusAsync(port, target);

        // Refused (400), or — where the server itself resolved the dots first — not found inside the origin.
        Assert.True(status is 400 or 404, $"{target} answered {status}");
        Assert.DoesNotContain(OriginServer.Requests, r => r.Path.Contains("etc", StringComparison.Ordinal) || r.Path.Contains("..", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AFolderOrigin_DoesNotFollowALinkOutOfItsRoot()
    {
        var folder = Directory.CreateTempSubdirectory("shoppe-folder-origin-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(folder, "inside.txt"), "inside");
            File.CreateSymbolicLink(Path.Combine(folder, "escape.txt"), "/etc/hostname");
            Directory.CreateSymbolicLink(Path.Combine(folder, "up"), "/");
            Directory.CreateDirectory(Path.Combine(folder, "sub"));
            File.CreateSymbolicLink(Path.Combine(folder, "sub", "relative.txt"), "../inside.txt");
            await using var cache = new CacheServiceFactory(DataRoot, CacheServiceFactory.Origin("local", directory: folder));
            using var client = cache.ClientFor("alice");

            Assert.Equal("inside"u8.ToArray(), await GetAsync(client, "/inside.txt"));
            Assert.Equal("inside"u8.ToArray(), await GetAsync(client, "/sub/relative.txt")); // a link that stays inside
            await GetAsync(client, "/escape.txt", expected: HttpStatusCode.NotFound);
            await GetAsync(client, "/up/etc/hostname", expected: HttpStatusCode.NotFound); // a directory link out
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task Reads_NeedAToken_UnlessAnonymousReadsAreConfigured()
    {
        await using (var cache = Cache())
        {
            using var anonymous = cache.CreateClient();
            using var response = await anonymous.GetAsync("/store/run1/nano.parquet", Ct);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Empty(OriginServer.Requests);
            Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/v1/stats", Ct)).StatusCode);
        }

        await using (var open = Cache(new Dictionary<string, string?> { ["Cache:AllowAnonymousReads"] = "true" }))
        {
            using var anonymous = open.CreateClient();
            Assert.Equal(FileBytes.Length, (await GetAsync(anonymous, "/store/run1/nano.parquet")).Length);
            // Operations still need a token.
            Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.DeleteAsync("/v1/cache/store/run1/nano.parquet", Ct)).StatusCode);
        }
    }

    [Fact]
    public async Task TheOriginSeesTheCachesCredential_NeverTheUsers()
    {
        await using var cache = Cache(new Dictionary<string, string?> { ["Cache:Origins:0:BearerToken"] = "cache-own-token" });
        using var client = cache.ClientFor("alice");

        await GetAsync(client, "/store/run1/nano.parquet", "bytes=0-99", HttpStatusCode.PartialContent);

        Assert.NotEmpty(OriginServer.Requests);
        Assert.All(OriginServer.Requests, r => Assert.Equal("Bearer cache-own-token", r.Authorization));
    }

    [Fact]
    public async Task ConcurrentMisses_OnOneBlock_FetchItFromTheOriginOnce()
    {
        await using var cache = Cache(new Dictionary<string, string?> { ["Cache:ReadAheadBlocks"] = "0" });
        OriginServer.BytesPerSecond = 20 * MiB; // slow enough that the readers overlap
        var clients = Enumerable.Range(0, 16).Select(_ => cache.ClientFor("alice")).ToList();

        var reads = await Task.WhenAll(clients.Select(c => GetAsync(c, "/store/run1/nano.parquet", $"bytes={2 * MiB}-{(2 * MiB) + 4095}", HttpStatusCode.PartialContent)));

        Assert.All(reads, r => Assert.Equal(FileBytes[(2 * MiB)..((2 * MiB) + 4096)], r));
        Assert.Equal(1, OriginServer.GetsOf("/store/run1/nano.parquet"));
        clients.ForEach(c => c.Dispose());
    }

    [Fact]
    public async Task OriginDown_CachedBlocksAreServed_UncachedOnesAre502()
    {
        await using var cache = Cache(new Dictionary<string, string?> { ["Cache:ReadAheadBlocks"] = "0", ["Cache:RevalidateAfter"] = "00:00:00" });
        using var client = cache.ClientFor("alice");
        await GetAsync(client, "/store/run1/nano.parquet", "bytes=0-1000", HttpStatusCode.PartialContent);

        await OriginServer.StopAsync();

        Assert.Equal(FileBytes[..1001], await GetAsync(client, "/store/run1/nano.parquet", "bytes=0-1000", HttpStatusCode.PartialContent));
        using var uncached = new HttpRequestMessage(HttpMethod.Get, "/store/run1/nano.parquet");
        uncached.Headers.Range = new RangeHeaderValue(3 * MiB, (3 * MiB) + 10);
        using var failed = await client.SendAsync(uncached, Ct);
        Assert.Equal(HttpStatusCode.BadGateway, failed.StatusCode);
        Assert.Equal("application/problem+json", failed.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task AStalledOrigin_Costs502_NotARequestThatNeverEnds()
    {
        await using var cache = Cache(new Dictionary<string, string?> { ["Cache:OriginTimeout"] = "00:00:01", ["Cache:ReadAheadBlocks"] = "0" });
        using var client = cache.ClientFor("alice");
        OriginServer.StallRangeRequests = true;
        var watch = System.Diagnostics.Stopwatch.StartNew();

        using var request = new HttpRequestMessage(HttpMethod.Get, "/store/run1/nano.parquet");
        request.Headers.Range = new RangeHeaderValue(0, 99);
        using var response = await client.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"took {watch.Elapsed}");
        OriginServer.StallRangeRequests = false;
        Assert.Equal(FileBytes[..100], await GetAsync(client, "/store/run1/nano.parquet", "bytes=0-99", HttpStatusCode.PartialContent));
    }

    [Fact]
    public async Task ARestart_KeepsWhatWasCached()
    {
        await using (var cache = Cache())
        {
            using var client = cache.ClientFor("alice");
            await GetAsync(client, "/store/run1/nano.parquet");
        }

        var fetched = OriginServer.GetsOf("/store/run1/nano.parquet");
        await OriginServer.StopAsync();

        await using var restarted = Cache();
        using var again = restarted.ClientFor("alice");
        Assert.Equal(SHA256.HashData(FileBytes), SHA256.HashData(await GetAsync(again, "/store/run1/nano.parquet")));
        var stats = await again.GetFromJsonAsync<CacheStats>("/v1/stats", Ct);
        Assert.Equal(FileBytes.Length, stats!.CachedBytes);
        Assert.Equal(fetched, OriginServer.GetsOf("/store/run1/nano.parquet"));
    }

    [Fact]
    public async Task AChangedOriginFile_IsFetchedAfresh()
    {
        await using var cache = Cache(new Dictionary<string, string?> { ["Cache:RevalidateAfter"] = "00:00:00" });
        using var client = cache.ClientFor("alice");
        await GetAsync(client, "/store/run1/nano.parquet");

        var changed = RandomNumberGenerator.GetBytes(3 * MiB);
        OriginServer.Write("store/run1/nano.parquet", changed);
        File.SetLastWriteTimeUtc(Path.Combine(OriginServer.Folder, "store/run1/nano.parquet"), DateTime.UtcNow.AddMinutes(1));

        Assert.Equal(SHA256.HashData(changed), SHA256.HashData(await GetAsync(client, "/store/run1/nano.parquet")));
    }

    [Fact]
    public async Task AFileThatChangesBetweenValidationAndFetch_IsNeverServedAsAMixOfVersions()
    {
        await using var cache = Cache(new Dictionary<string, string?> { ["Cache:RevalidateAfter"] = "01:00:00", ["Cache:ReadAheadBlocks"] = "0" });
        using var client = cache.ClientFor("alice");
        await GetAsync(client, "/store/run1/nano.parquet", "bytes=0-99", HttpStatusCode.PartialContent);

        // Same length, new bytes: only the validators tell.
        var changed = RandomNumberGenerator.GetBytes(FileBytes.Length);
        OriginServer.Write("store/run1/nano.parquet", changed);
        File.SetLastWriteTimeUtc(Path.Combine(OriginServer.Folder, "store/run1/nano.parquet"), DateTime.UtcNow.AddMinutes(5));

        using (var mixed = new HttpRequestMessage(HttpMethod.Get, "/store/run1/nano.parquet"))
        {
            mixed.Headers.Range = new RangeHeaderValue(3 * MiB, (3 * MiB) + 99);
            using var refused = await client.SendAsync(mixed, Ct);
            Assert.Equal(HttpStatusCode.BadGateway, refused.StatusCode);
        }

        // The next read asks the origin again and gets the new version whole.
        Assert.Equal(SHA256.HashData(changed), SHA256.HashData(await GetAsync(client, "/store/run1/nano.parquet")));
    }

    [Fact]
    public async Task Eviction_KeepsUseBetweenTheWatermarks_LeastRecentlyUsedFirst()
    {
        foreach (var name in new[] { "a", "b", "c" })
        {
            OriginServer.Write($"store/{name}.bin", RandomNumberGenerator.GetBytes(2 * MiB));
        }

        await using var cache = Cache(new Dictionary<string, string?>
        {
            ["Cache:MaxBytes"] = (5 * MiB).ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Cache:HighWatermark"] = "0.9",
            ["Cache:LowWatermark"] = "0.5",
            ["Cache:ReadAheadBlocks"] = "0",
        });
        using var client = cache.ClientFor("alice");
        await GetAsync(client, "/store/a.bin");
        await GetAsync(client, "/store/b.bin");
        await GetAsync(client, "/store/b.bin", "bytes=0-0", HttpStatusCode.PartialContent); // b is now more recent than a

        await GetAsync(client, "/store/c.bin"); // 6 MiB > 4.5: evict down to 2.5 MiB, a first, then b

        var stats = await client.GetFromJsonAsync<CacheStats>("/v1/stats", Ct);
        Assert.True(stats!.CachedBytes <= 5 * MiB / 2, $"{stats.CachedBytes} bytes cached");
        Assert.Equal(2, stats.Evictions);
        var before = OriginServer.GetsOf("/store/c.bin");
        await GetAsync(client, "/store/c.bin");
        Assert.Equal(before, OriginServer.GetsOf("/store/c.bin")); // the file being read was never evicted
    }

    [Fact]
    public async Task Operators_RemoveAFile_UsersMayNot()
    {
        await using var cache = Cache();
        using var user = cache.ClientFor("alice");
        using var op = cache.ClientFor("root", ShoppeClaims.OperatorRole);
        await GetAsync(user, "/store/run1/nano.parquet", "bytes=0-10", HttpStatusCode.PartialContent);

        Assert.Equal(HttpStatusCode.Forbidden, (await user.DeleteAsync("/v1/cache/store/run1/nano.parquet", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await op.DeleteAsync("/v1/cache/store/run1/nano.parquet", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await op.DeleteAsync("/v1/cache/store/run1/nano.parquet", Ct)).StatusCode);
        Assert.True((await op.DeleteAsync("/v1/cache/store/%2e%2e/x", Ct)).StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.NotFound);
        Assert.Equal(0, (await op.GetFromJsonAsync<CacheStats>("/v1/stats", Ct))!.CachedBytes);
    }

    [Fact]
    public async Task Stats_CountHitsMissesAndBytes()
    {
        await using var cache = Cache(new Dictionary<string, string?> { ["Cache:ReadAheadBlocks"] = "0" });
        using var client = cache.ClientFor("alice");
        await GetAsync(client, "/store/run1/nano.parquet", $"bytes=0-{MiB - 1}", HttpStatusCode.PartialContent);
        await GetAsync(client, "/store/run1/nano.parquet", $"bytes=0-{MiB - 1}", HttpStatusCode.PartialContent);

        var stats = await client.GetFromJsonAsync<CacheStats>("/v1/stats", Ct);

        Assert.Equal(1, stats!.Misses);
        Assert.True(stats.Hits >= 1);
        Assert.Equal(2L * MiB, stats.BytesFromCache);
        Assert.True(stats.BytesFromOrigin >= MiB);
    }

    [Fact]
    public async Task UnknownFiles_AndPathsNoOriginServes_Are404Problems()
    {
        await using var cache = Cache();
        using var client = cache.ClientFor("alice");

        foreach (var path in new[] { "/store/run1/missing.parquet", "/elsewhere/file" })
        {
            using var response = await client.GetAsync(path, Ct);
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        }
    }
}
