using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Google.Protobuf;
using static Shoppe.Logs.Tests.Otlp;

namespace Shoppe.Logs.Tests.Ingest;

public sealed class OtlpIngestTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static ByteArrayContent Protobuf(byte[] body)
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");
        return content;
    }

    [Fact]
    public async Task Export_ValidBatch_StoresEachRecordWithItsRequestServiceLevelAndAttributes()
    {
        await using var logs = new LogsServiceFactory();
        await logs.ExportAsync(Batch("delivery",
            new Rec("transform started", "req-1", Severity: 9, User: "alice", Attributes: new() { ["files"] = 3L }),
            new Rec("file 2 failed: unreadable", "req-1", Severity: 17, User: "alice", OffsetMs: 5)));

        using var alice = logs.ClientFor("alice");
        using var doc = JsonDocument.Parse(await alice.GetStringAsync("/v1/requests/req-1/logs", Ct));
        var records = doc.RootElement.GetProperty("records").EnumerateArray().ToArray();

        Assert.Equal("alice", doc.RootElement.GetProperty("owner").GetString());
        Assert.Equal(2, records.Length);
        Assert.Equal("transform started", records[0].GetProperty("message").GetString());
        Assert.Equal("info", records[0].GetProperty("level").GetString());
        Assert.Equal("delivery", records[0].GetProperty("service").GetString());
        Assert.Equal(3, records[0].GetProperty("attributes").GetProperty("files").GetInt64());
        Assert.Equal("0af7651916cd43dd8448eb211c80319c", records[0].GetProperty("traceId").GetString());
        Assert.Equal("error", records[1].GetProperty("level").GetString());
        Assert.Equal(T0.AddMilliseconds(5), records[1].GetProperty("time").GetDateTimeOffset());
    }

    [Fact]
    public async Task Export_GzipBody_IsAccepted()
    {
        await using var logs = new LogsServiceFactory();
        using var packed = new MemoryStream();
        await using (var gz = new GZipStream(packed, CompressionLevel.Fastest, leaveOpen: true))
        {
            Batch("cache", new Rec("hit", "req-gz", User: "bob")).WriteTo(gz);
        }

        using var content = Protobuf(packed.ToArray());
        content.Headers.ContentEncoding.Add("gzip");
        using var response = await logs.ServiceClient().PostAsync("/v1/logs", content, Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/x-protobuf", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Export_WithoutToken_Is401()
    {
        await using var logs = new LogsServiceFactory();
        using var content = Protobuf(Batch("cache", new Rec("x", "r")).ToByteArray());
        using var response = await logs.CreateClient().PostAsync("/v1/logs", content, Ct);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task Export_WithAUserToken_Is403_OnlyServicesWriteLogs()
    {
        await using var logs = new LogsServiceFactory();
        using var content = Protobuf(Batch("cache", new Rec("forged", "r", User: "victim")).ToByteArray());
        using var response = await logs.ClientFor("mallory").PostAsync("/v1/logs", content, Ct);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    [Fact]
    public async Task Export_WithATokenSignedByAnotherKey_Is401()
    {
        await using var logs = new LogsServiceFactory();
        await using var other = new LogsServiceFactory();
        using var client = logs.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", other.Token("delivery", "service"));
        using var content = Protobuf(Batch("cache", new Rec("x", "r")).ToByteArray());
        using var response = await client.PostAsync("/v1/logs", content, Ct);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Theory]
    [InlineData(new byte[] { 0x0A, 0xFF, 0xFF, 0xFF })]           // a length prefix running past the end
    [InlineData(new byte[] { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01 })] // an invalid tag
    public async Task Export_MalformedBody_Is400ProblemDetails(byte[] body)
    {
        await using var logs = new LogsServiceFactory();
        using var content = Protobuf(body);
        using var response = await logs.ServiceClient().PostAsync("/v1/logs", content, Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("Malformed OTLP", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Export_JsonBody_Is415()
    {
        await using var logs = new LogsServiceFactory();
        using var content = new StringContent("{\"resourceLogs\":[]}", System.Text.Encoding.UTF8, "application/json");
        using var response = await logs.ServiceClient().PostAsync("/v1/logs", content, Ct);

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
    }

    [Fact]
    public async Task Export_OverTheSizeLimit_Is413AndStoresNothing()
    {
        await using var logs = new LogsServiceFactory(settings: new Dictionary<string, string?> { ["Logs:Ingest:MaxBodyBytes"] = "4096" });
        var big = Batch("cache", Enumerable.Range(0, 200).Select(i => new Rec($"record {i} with some padding text", "req-big", User: "alice")).ToArray());
        using var content = Protobuf(big.ToByteArray());
        using var response = await logs.ServiceClient().PostAsync("/v1/logs", content, Ct);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        using var ops = logs.ClientFor("root", "operator");
        Assert.Equal(HttpStatusCode.NotFound, (await ops.GetAsync("/v1/requests/req-big/logs", Ct)).StatusCode);
    }

    [Fact]
    public async Task Export_GzipBombOverTheLimit_Is413()
    {
        await using var logs = new LogsServiceFactory(settings: new Dictionary<string, string?> { ["Logs:Ingest:MaxBodyBytes"] = "65536" });
        using var packed = new MemoryStream();
        await using (var gz = new GZipStream(packed, CompressionLevel.Optimal, leaveOpen: true))
        {
            gz.Write(new byte[8 << 20]); // 8 MiB of zeros packs to a few KiB
        }

        using var content = Protobuf(packed.ToArray());
        content.Headers.ContentEncoding.Add("gzip");
        using var response = await logs.ServiceClient().PostAsync("/v1/logs", content, Ct);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
    }
}
