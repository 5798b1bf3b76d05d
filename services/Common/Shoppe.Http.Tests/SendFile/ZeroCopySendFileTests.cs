using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Hosting;
using Shoppe.ServiceDefaults;
using Shoppe.Http.SendFile;

namespace Shoppe.Http.Tests;

/// <summary>
/// Responses sent from files by sendfile(2) on real Kestrel sockets: the bytes, the order of bytes on a kept-alive
/// connection, a client that reads slowly (the socket fills), one that goes away, a file shorter than promised, and
/// the connections that must copy instead (TLS, HTTP/2). The counters are process-wide, so these tests run alone.
/// </summary>
[Collection(nameof(ZeroCopySendFileTests))]
[CollectionDefinition(nameof(ZeroCopySendFileTests), DisableParallelization = true)]
public sealed class ZeroCopySendFileTests : IAsyncLifetime
{
    private const int FileLength = (8 << 20) + 12345;
    private readonly string _folder = Directory.CreateTempSubdirectory("shoppe-sendfile-").FullName;
    private byte[] _content = [];
    private string _path = "";

    public ValueTask InitializeAsync()
    {
        _content = RandomNumberGenerator.GetBytes(FileLength);
        _path = Path.Combine(_folder, "data.bin");
        File.WriteAllBytes(_path, _content);
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync()
    {
        Directory.Delete(_folder, recursive: true);
        return ValueTask.CompletedTask;
    }

    /// <summary>Maps the test endpoints: a range of the file (query from/count), two ranges with text between, JSON, Results.File.</summary>
    private void Map(WebApplication app)
    {
        app.MapGet("/range", async (HttpContext context, long from, long count) =>
        {
            using var file = File.OpenHandle(_path);
            context.Response.ContentLength = count;
            context.Response.Headers["X-Zero-Copy"] = ZeroCopySendFile.IsZeroCopy(context) ? "yes" : "no";
            await context.Response.SendFileAsync(file, from, count, context.RequestAborted);
        });
        app.MapGet("/two", async (HttpContext context) =>
        {
            using var file = File.OpenHandle(_path);
            var middle = "--between--"u8.ToArray();
            context.Response.ContentLength = 1000 + middle.Length + 3_000_000;
            await context.Response.SendFileAsync(file, 5, 1000, context.RequestAborted);
            await context.Response.Body.WriteAsync(middle, context.RequestAborted);
            await context.Response.SendFileAsync(file, 4_000_000, 3_000_000, context.RequestAborted);
        });
        app.MapGet("/short", async (HttpContext context) =>
        {
            using var file = File.OpenHandle(_path);
            context.Response.ContentLength = FileLength + 4096L;
            await context.Response.SendFileAsync(file, 0, FileLength + 4096L, context.RequestAborted);
        });
        app.MapGet("/json", () => TypedResults.Ok(new { hello = "world" }));
        app.MapGet("/physical", () => TypedResults.PhysicalFile(_path, "application/octet-stream", enableRangeProcessing: true));
    }

    private Task<TestServiceHost> StartAsync(Action<WebApplicationBuilder>? configure = null) =>
        TestServiceHost.StartAsync(Map, builder =>
        {
            builder.AddZeroCopySendFile();
            configure?.Invoke(builder);
        }, kestrel: true);

    private static HttpClient OneConnection(Uri address) =>
        new(new SocketsHttpHandler { MaxConnectionsPerServer = 1 }) { BaseAddress = address };

    [Fact]
    public async Task AServiceThatDoesNotOptIn_KeepsPlainKestrel_AndOptingInTwiceStillSendsTheSameBytes()
    {
        await using (var plain = await TestServiceHost.StartAsync(Map, kestrel: true))
        {
            using var client = OneConnection(plain.Address);
            using var response = await client.GetAsync($"/range?from=0&count={FileLength}", TestContext.Current.CancellationToken);
            Assert.Equal("no", response.Headers.GetValues("X-Zero-Copy").Single());
            var body = await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
            Assert.True(_content.AsSpan().SequenceEqual(body), "the plain response came back changed");
        }

        await using var twice = await StartAsync(builder => builder.AddZeroCopySendFile());
        using var twiceClient = OneConnection(twice.Address);
        for (var i = 0; i < 3; i++)
        {
            using var response = await twiceClient.GetAsync($"/range?from=0&count={FileLength}", TestContext.Current.CancellationToken);
            Assert.Equal("yes", response.Headers.GetValues("X-Zero-Copy").Single());
            var body = await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
            Assert.True(_content.AsSpan().SequenceEqual(body), $"response {i} came back changed");
        }
    }

    [Fact]
    public async Task SendFileAsync_PlainHttp_SendsTheFileBytesBySendfile()
    {
        await using var host = await StartAsync();
        using var client = OneConnection(host.Address);
        var before = ZeroCopyMetrics.ZeroCopyBytes;

        using var whole = await client.GetAsync($"/range?from=0&count={FileLength}", TestContext.Current.CancellationToken);
        var body = await whole.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);

        Assert.Equal("yes", whole.Headers.GetValues("X-Zero-Copy").Single());
        Assert.True(_content.AsSpan().SequenceEqual(body), "the whole file came back changed");
        Assert.True(ZeroCopyMetrics.ZeroCopyBytes - before >= FileLength / 2, $"only {ZeroCopyMetrics.ZeroCopyBytes - before} bytes went by sendfile");
    }

    [Fact]
    public async Task SendFileAsync_KeptAliveConnection_KeepsEveryResponseInItsPlace()
    {
        await using var host = await StartAsync();
        using var client = OneConnection(host.Address);
        var random = new Random(7);
        for (var i = 0; i < 60; i++)
        {
            var ct = TestContext.Current.CancellationToken;
            switch (i % 3)
            {
                case 0:
                    var from = random.Next(FileLength - 70_000);
                    var count = random.Next(1, 70_000);
                    var part = await client.GetByteArrayAsync($"/range?from={from}&count={count}", ct);
                    Assert.True(_content.AsSpan(from, count).SequenceEqual(part), $"range {from}+{count} (request {i}) came back changed");
                    break;
                case 1:
                    Assert.Equal("{\"hello\":\"world\"}", await client.GetStringAsync("/json", ct));
                    break;
                default:
                    var two = await client.GetByteArrayAsync("/two", ct);
                    var expected = _content.AsSpan(5, 1000).ToArray().Concat("--between--"u8.ToArray()).Concat(_content.AsSpan(4_000_000, 3_000_000).ToArray()).ToArray();
                    Assert.True(expected.AsSpan().SequenceEqual(two), $"two ranges with text between (request {i}) came back changed");
                    break;
            }
        }
    }

    [Fact]
    public async Task PhysicalFile_RangeRequest_GoesBySendfileAndMatches()
    {
        await using var host = await StartAsync();
        using var client = OneConnection(host.Address);
        var before = ZeroCopyMetrics.ZeroCopyBytes;
        using var request = new HttpRequestMessage(HttpMethod.Get, "/physical");
        request.Headers.Range = new RangeHeaderValue(1_000_000, 3_999_999);

        using var response = await client.SendAsync(request, TestContext.Current.CancellationToken);
        var body = await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
        Assert.True(_content.AsSpan(1_000_000, 3_000_000).SequenceEqual(body), "the range came back changed");
        Assert.True(ZeroCopyMetrics.ZeroCopyBytes - before >= 1_000_000, "PhysicalFile did not go by sendfile");
    }

    [Fact]
    public async Task SendFileAsync_SlowReader_WaitsForTheSocketAndLosesNothing()
    {
        await using var host = await StartAsync();
        var copiedBefore = ZeroCopyMetrics.CopiedBytes;
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 8192 };
        await socket.ConnectAsync(IPAddress.Loopback, host.Address.Port, TestContext.Current.CancellationToken);
        var request = $"GET /range?from=0&count={FileLength} HTTP/1.1\r\nHost: test\r\n\r\n";
        await socket.SendAsync(Encoding.ASCII.GetBytes(request), SocketFlags.None, TestContext.Current.CancellationToken);

        // Read slowly, so the server's socket fills again and again.
        var received = new MemoryStream();
        var buffer = new byte[64 * 1024];
        var headerEnd = -1;
        while (headerEnd < 0 || received.Length - headerEnd < FileLength)
        {
            var n = await socket.ReceiveAsync(buffer, SocketFlags.None, TestContext.Current.CancellationToken);
            Assert.True(n > 0, $"the server closed the connection after {received.Length} bytes");
            received.Write(buffer, 0, n);
            if (headerEnd < 0)
            {
                headerEnd = received.ToArray().AsSpan().IndexOf("\r\n\r\n"u8) is var at and >= 0 ? at + 4 : -1;
            }

            if (received.Length % 4 == 0)
            {
                await Task.Delay(1, TestContext.Current.CancellationToken);
            }
        }

        var all = received.ToArray();
        Assert.StartsWith("HTTP/1.1 200", Encoding.ASCII.GetString(all, 0, 12), StringComparison.Ordinal);
        Assert.True(_content.AsSpan().SequenceEqual(all.AsSpan(headerEnd)), "the body came back changed");
        Assert.True(ZeroCopyMetrics.CopiedBytes > copiedBefore, "the socket never filled: the slow path was not tried");
    }

    [Fact]
    public async Task SendFileAsync_ClientGoesAway_TheServerCarriesOn()
    {
        await using var host = await StartAsync();
        using (var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await socket.ConnectAsync(IPAddress.Loopback, host.Address.Port, TestContext.Current.CancellationToken);
            await socket.SendAsync(Encoding.ASCII.GetBytes($"GET /range?from=0&count={FileLength} HTTP/1.1\r\nHost: test\r\n\r\n"), SocketFlags.None, TestContext.Current.CancellationToken);
            var buffer = new byte[4096];
            await socket.ReceiveAsync(buffer, SocketFlags.None, TestContext.Current.CancellationToken);
        }

        using var client = OneConnection(host.Address);
        var part = await client.GetByteArrayAsync("/range?from=100&count=5000", TestContext.Current.CancellationToken);
        Assert.True(_content.AsSpan(100, 5000).SequenceEqual(part));
    }

    [Fact]
    public async Task SendFileAsync_FileShorterThanPromised_CutsTheConnectionNotTheServer()
    {
        await using var host = await StartAsync();
        using var client = OneConnection(host.Address);

        await Assert.ThrowsAnyAsync<HttpRequestException>(() => client.GetByteArrayAsync("/short", TestContext.Current.CancellationToken));

        Assert.Equal("{\"hello\":\"world\"}", await client.GetStringAsync("/json", TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task SendFileAsync_Tls_CopiesInsteadAndMatches()
    {
        using var certificate = SelfSigned();
        await using var host = await StartAsync(builder =>
        {
            builder.WebHost.UseUrls("https://127.0.0.1:0");
            builder.WebHost.ConfigureKestrel(k => k.ConfigureHttpsDefaults(https => https.ServerCertificate = certificate));
        });
        using var client = new HttpClient(new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = (_, cert, _, _) => cert?.GetCertHashString() == certificate.GetCertHashString() },
        }) { BaseAddress = host.Address };
        var before = ZeroCopyMetrics.ZeroCopyBytes;

        using var response = await client.GetAsync($"/range?from=3&count={FileLength - 3}", TestContext.Current.CancellationToken);
        var body = await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);

        Assert.Equal("no", response.Headers.GetValues("X-Zero-Copy").Single());
        Assert.True(_content.AsSpan(3).SequenceEqual(body), "the file came back changed over TLS");
        Assert.Equal(before, ZeroCopyMetrics.ZeroCopyBytes);
    }

    [Fact]
    public async Task SendFileAsync_Http2_CopiesInsteadAndMatches()
    {
        await using var host = await StartAsync(builder => builder.Configuration["Kestrel:EndpointDefaults:Protocols"] = "Http2");
        using var client = new HttpClient { BaseAddress = host.Address, DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
        var before = ZeroCopyMetrics.ZeroCopyBytes;

        using var response = await client.GetAsync($"/range?from=0&count={FileLength}", TestContext.Current.CancellationToken);
        var body = await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);

        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Equal("no", response.Headers.GetValues("X-Zero-Copy").Single());
        Assert.True(_content.AsSpan().SequenceEqual(body), "the file came back changed over HTTP/2");
        Assert.Equal(before, ZeroCopyMetrics.ZeroCopyBytes);
    }

    private static X509Certificate2 SelfSigned()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pfx), null);
    }
}
