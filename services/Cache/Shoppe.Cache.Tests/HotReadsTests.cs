using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Shoppe.Security;

namespace Shoppe.Cache.Tests;

/// <summary>
/// The front lane for repeat reads (HotReads): it answers exactly as the read endpoint does, and only for callers,
/// files and blocks the whole pipeline would serve; everything else is left to the pipeline.
/// </summary>
public sealed class HotReadsTests : CacheTestBase
{
    private const string FilePath = "/store/run1/nano.parquet";

    private CacheServiceFactory Cache(bool anonymous = false, TimeProvider? clock = null) => new(DataRoot, new Dictionary<string, string?>(CacheServiceFactory.Origin("xrd", url: OriginServer.Url + "/store", prefix: "/store"))
    {
        ["Cache:AllowAnonymousReads"] = anonymous ? "true" : "false",
    }, kestrel: true)
    { Clock = clock };

    private static long Served(CacheServiceFactory cache) => cache.Services.GetRequiredService<HotReads>().Served;

    private static HttpRequestMessage Get(string token, string? range = null, string path = FilePath)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        if (range is not null)
        {
            request.Headers.TryAddWithoutValidation("Range", range);
        }

        return request;
    }

    /// <summary>What a client can see of an answer, the parts that differ by design (boundary, request id, date) made equal.</summary>
    private static async Task<string> DescribeAsync(HttpResponseMessage response)
    {
        var body = await response.Content.ReadAsByteArrayAsync(Ct);
        var type = response.Content.Headers.ContentType?.ToString() ?? "";
        var boundary = response.Content.Headers.ContentType?.Parameters.SingleOrDefault(p => p.Name == "boundary")?.Value;
        var text = new StringBuilder()
            .AppendLine(CultureInfo($"{(int)response.StatusCode}"))
            .AppendLine(boundary is null ? type : type.Replace(boundary, "B", StringComparison.Ordinal))
            .AppendLine(CultureInfo($"length {response.Content.Headers.ContentLength}"))
            .AppendLine($"range {response.Content.Headers.ContentRange}")
            .AppendLine($"etag {response.Headers.ETag}")
            .AppendLine(CultureInfo($"modified {response.Content.Headers.LastModified}"))
            .AppendLine($"accept {string.Join(",", response.Headers.AcceptRanges)}")
            .AppendLine($"request id {response.Headers.Contains("X-Shoppe-Request-Id")}");
        var bytes = boundary is null ? body : Encoding.ASCII.GetBytes(Encoding.Latin1.GetString(body).Replace(boundary, "B", StringComparison.Ordinal));
        return text.Append("sha256 ").Append(Convert.ToHexString(SHA256.HashData(bytes))).ToString();
    }

    private static string CultureInfo(FormattableString text) => FormattableString.Invariant(text);

    [Fact]
    public async Task RepeatReads_TakeTheLane_AndAreAnsweredAsThePipelineAnswers()
    {
        await using var cache = Cache();
        using var client = cache.CreateClient();
        using (var fill = await client.SendAsync(Get(cache.Token("filler")), Ct))
        {
            Assert.Equal(FileBytes, await fill.Content.ReadAsByteArrayAsync(Ct));
        }

        string?[] ranges = [null, "bytes=100-199", $"bytes={MiB - 10}-{MiB + 9}", "bytes=-500", $"bytes={4 * MiB}-", "bytes=0-9,2000000-2000099", "bytes=0-0,0-0"];
        for (var i = 0; i < ranges.Length; i++)
        {
            // A token never seen: its first read is the pipeline's, the same read again the lane's.
            var token = cache.Token($"reader{i}");
            using var first = await client.SendAsync(Get(token, ranges[i]), Ct);
            var before = Served(cache);
            using var again = await client.SendAsync(Get(token, ranges[i]), Ct);
            Assert.Equal(before + 1, Served(cache));
            Assert.Equal(await DescribeAsync(first), await DescribeAsync(again));
        }

        using var some = await client.SendAsync(Get(cache.Token("reader0"), "bytes=100-199"), Ct);
        Assert.Equal(FileBytes[100..200], await some.Content.ReadAsByteArrayAsync(Ct));
    }

    [Fact]
    public async Task OnlyCallersThePipelineAccepted_TakeTheLane()
    {
        var clock = new ManualClock();
        await using var cache = Cache(clock: clock);
        using var client = cache.CreateClient();
        var alice = cache.Token("alice");
        using (var fill = await client.SendAsync(Get(alice), Ct))
        {
            Assert.Equal(HttpStatusCode.OK, fill.StatusCode);
        }

        var served = Served(cache);
        var forged = new TokenIssuer(new ShoppeSecurityOptions { SigningKeyFile = Path.Combine(DataRoot, "other-keys", "other.key") }, TimeProvider.System).Issue("alice", [], TimeSpan.FromHours(1));
        foreach (var token in new[] { forged, alice + "x", alice[..^2], "" })
        {
            for (var attempt = 0; attempt < 2; attempt++)
            {
                using var refused = await client.SendAsync(Get(token, "bytes=0-99"), Ct);
                Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            }
        }

        using (var anonymous = await client.GetAsync(FilePath, Ct))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        }

        Assert.Equal(served, Served(cache));

        // A token is taken on trust no longer than it lives (the pipeline itself allows 30 s of clock skew).
        var brief = new TokenIssuer(new ShoppeSecurityOptions { SigningKeyFile = cache.KeyFile }, TimeProvider.System).Issue("bob", [], TimeSpan.FromSeconds(2));
        using (var first = await client.SendAsync(Get(brief, "bytes=0-99"), Ct))
        {
            Assert.Equal(HttpStatusCode.PartialContent, first.StatusCode);
        }

        using (var second = await client.SendAsync(Get(brief, "bytes=0-99"), Ct))
        {
            Assert.Equal(HttpStatusCode.PartialContent, second.StatusCode);
        }

        Assert.Equal(served + 1, Served(cache));
        clock.Advance(TimeSpan.FromSeconds(3));
        using (var late = await client.SendAsync(Get(brief, "bytes=0-99"), Ct))
        {
            Assert.Equal(HttpStatusCode.PartialContent, late.StatusCode);
        }

        Assert.Equal(served + 1, Served(cache));
    }

    [Fact]
    public async Task OtherEndpoints_Misses_PreconditionsAndBadInput_AreLeftToThePipeline()
    {
        await using var cache = Cache(anonymous: true);
        using var client = cache.CreateClient();
        var alice = cache.Token("alice");
        using (var firstBlock = await client.SendAsync(Get(alice, "bytes=0-99"), Ct))
        {
            Assert.Equal(HttpStatusCode.PartialContent, firstBlock.StatusCode);
        }

        using (var again = await client.SendAsync(Get(alice, "bytes=0-99"), Ct))
        {
            Assert.Equal(FileBytes[..100], await again.Content.ReadAsByteArrayAsync(Ct));
        }

        var served = Served(cache);
        Assert.Equal(1, served);

        // A block not yet cached goes to the origin through the pipeline.
        var originRequests = OriginServer.Requests.Count;
        using (var miss = await client.SendAsync(Get(alice, $"bytes={4 * MiB}-{(4 * MiB) + 99}"), Ct))
        {
            Assert.Equal(FileBytes[(4 * MiB)..((4 * MiB) + 100)], await miss.Content.ReadAsByteArrayAsync(Ct));
        }

        Assert.True(OriginServer.Requests.Count > originRequests);

        // Another endpoint, even one whose path could be a file's.
        using (var stats = await client.SendAsync(Get(alice, path: "/v1/stats"), Ct))
        {
            Assert.Equal(HttpStatusCode.OK, stats.StatusCode);
            Assert.Equal("application/json", stats.Content.Headers.ContentType?.MediaType);
        }

        // A precondition.
        using (var head = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, FilePath) { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", alice) } }, Ct))
        using (var conditional = Get(alice, "bytes=0-99"))
        {
            conditional.Headers.IfNoneMatch.Add(head.Headers.ETag!);
            using var notModified = await client.SendAsync(conditional, Ct);
            Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
        }

        // A malformed request id is refused; a good one comes back.
        using (var badId = Get(alice, "bytes=0-99"))
        {
            badId.Headers.TryAddWithoutValidation("X-Shoppe-Request-Id", "not a valid id!");
            using var refused = await client.SendAsync(badId, Ct);
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
        }

        using (var goodId = Get(alice, "bytes=0-99"))
        {
            goodId.Headers.Add("X-Shoppe-Request-Id", "analysis-42");
            using var answered = await client.SendAsync(goodId, Ct);
            Assert.Equal("analysis-42", answered.Headers.GetValues("X-Shoppe-Request-Id").Single());
        }

        Assert.Equal(served + 1, Served(cache));

        // Paths that leave the namespace, sent exactly as written, anonymously (anonymous reads are on here).
        using (var anonymous = await client.GetAsync($"{FilePath}", Ct))
        {
            Assert.Equal(HttpStatusCode.OK, anonymous.StatusCode);
        }

        served = Served(cache);
        foreach (var target in new[] { "/store/../etc/passwd", "/store/run1/..%2F..%2Fetc%2Fpasswd", "/store/%2e%2e/%2e%2e/etc/passwd", "/store//etc/passwd", "//etc/passwd", "/store/run1/nano.parquet%00.txt", "/store/run1/.%2Fnano.parquet" })
        {
            var status = await RawStatusAsync(client.BaseAddress!.Port, target);
            Assert.True(status is 400 or 404, $"{target} answered {status}");
        }

        Assert.Equal(served, Served(cache));
        Assert.DoesNotContain(OriginServer.Requests, r => r.Path.Contains("etc", StringComparison.Ordinal) || r.Path.Contains("..", StringComparison.Ordinal));
        // Dots the server resolves within the namespace name the file itself, in the lane as in the pipeline.
        Assert.Equal(200, await RawStatusAsync(client.BaseAddress!.Port, "/store/x/../run1/nano.parquet"));
        Assert.Equal(served + 1, Served(cache));
        served++;
        using var unsatisfiable = await client.SendAsync(Get(alice, $"bytes={FileBytes.Length}-"), Ct);
        Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, unsatisfiable.StatusCode);
        Assert.Equal(served, Served(cache));
    }

    [Fact]
    public async Task PathsThatOtherEndpointsBeginWith_AreNeverTheLanes()
    {
        await using var cache = Cache(anonymous: true);
        using var client = cache.CreateClient();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/alive", Ct)).StatusCode);
        var lane = cache.Services.GetRequiredService<HotReads>();
        foreach (var path in new[] { "/v1/stats", "/V1/cache/store/run1/nano.parquet", "/health", "/alive", "/version", "/v1" })
        {
            Assert.True(lane.IsReserved(path), path);
        }

        foreach (var path in new[] { FilePath, "/v1x/a", "/healthy", "/store/v1/stats" })
        {
            Assert.False(lane.IsReserved(path), path);
        }
    }
}
