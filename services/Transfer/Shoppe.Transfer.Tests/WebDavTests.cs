using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Xml.Linq;
using Shoppe.Transfer.Storage;

namespace Shoppe.Transfer.Tests;

/// <summary>The WebDAV storage endpoint: verbs, digests, atomic uploads, scopes and paths that try to leave the root.</summary>
public sealed class WebDavTests : IAsyncLifetime
{
    private readonly string _work = Directory.CreateTempSubdirectory("shoppe-transfer-").FullName;
    private TransferServiceFactory _service = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public ValueTask InitializeAsync()
    {
        _service = new TransferServiceFactory(Path.Combine(_work, "a"), Path.Combine(_work, "signing.key"));
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await _service.DisposeAsync();
        await TestFolders.DeleteAsync(_work);
    }

    private HttpClient Everything() => _service.ClientWith("storage.read:/ storage.modify:/");

    private static HttpRequestMessage Request(string method, string path, byte[]? body = null)
    {
        var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (body is not null)
        {
            request.Content = new ByteArrayContent(body);
        }

        return request;
    }

    [Fact]
    public void Adler32_KnownValues()
    {
        var adler = new Adler32();
        adler.Append("Wikipedia"u8);
        Assert.Equal(0x11E60398u, adler.Value);
        var big = new Adler32();
        big.Append(new byte[100_000].AsSpan()); // long runs are reduced in time
        Assert.Equal(0x86AF0001u, big.Value);
    }

    [Fact]
    public async Task PutGetHeadDelete_RoundTripWithRangesAndDigests()
    {
        using var client = Everything();
        var data = RandomNumberGenerator.GetBytes(3_000_000);

        using (var put = await client.SendAsync(Request("PUT", "/store/run1/f.bin", data), Ct))
        {
            Assert.Equal(HttpStatusCode.Created, put.StatusCode); // parents are created
        }

        Assert.Equal(data, await client.GetByteArrayAsync("/store/run1/f.bin", Ct));
        using (var range = Request("GET", "/store/run1/f.bin"))
        {
            range.Headers.Range = new RangeHeaderValue(1000, 1999);
            using var response = await client.SendAsync(range, Ct);
            Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
            Assert.Equal(data[1000..2000], await response.Content.ReadAsByteArrayAsync(Ct));
        }

        var adler = new Adler32();
        adler.Append(data);
        using (var head = Request("HEAD", "/store/run1/f.bin"))
        {
            head.Headers.Add("Want-Digest", "adler32");
            using var response = await client.SendAsync(head, Ct);
            Assert.Equal($"adler32={adler.Value:x8}", response.Headers.GetValues("Digest").Single());
            Assert.Equal(data.Length, response.Content.Headers.ContentLength);
        }

        using (var head = Request("HEAD", "/store/run1/f.bin"))
        {
            head.Headers.Add("Want-Digest", "SHA-256");
            using var response = await client.SendAsync(head, Ct);
            Assert.Equal("sha-256=" + Convert.ToBase64String(SHA256.HashData(data)), response.Headers.GetValues("Digest").Single());
        }

        using (var overwrite = await client.SendAsync(Request("PUT", "/store/run1/f.bin", "new"u8.ToArray()), Ct))
        {
            Assert.Equal(HttpStatusCode.NoContent, overwrite.StatusCode);
        }

        Assert.Equal("new"u8.ToArray(), await client.GetByteArrayAsync("/store/run1/f.bin", Ct));
        Assert.Equal(HttpStatusCode.Conflict, (await client.SendAsync(Request("DELETE", "/store/run1"), Ct)).StatusCode); // not empty
        Assert.Equal(HttpStatusCode.NoContent, (await client.SendAsync(Request("DELETE", "/store/run1/f.bin"), Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/store/run1/f.bin", Ct)).StatusCode);
        Assert.Empty(Directory.GetFiles(_service.Storage, "*", SearchOption.AllDirectories)); // no temporary leftovers
    }

    [Fact]
    public async Task MkcolAndPropfind_ListAFolder()
    {
        using var client = Everything();
        Assert.Equal(HttpStatusCode.Conflict, (await client.SendAsync(Request("MKCOL", "/a/b"), Ct)).StatusCode); // no parent
        Assert.Equal(HttpStatusCode.Created, (await client.SendAsync(Request("MKCOL", "/a"), Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, (await client.SendAsync(Request("MKCOL", "/a"), Ct)).StatusCode);
        await client.SendAsync(Request("PUT", "/a/x.root", new byte[1234]), Ct);
        await client.SendAsync(Request("MKCOL", "/a/sub"), Ct);

        using var propfind = Request("PROPFIND", "/a");
        propfind.Headers.Add("Depth", "1");
        using var response = await client.SendAsync(propfind, Ct);

        Assert.Equal((HttpStatusCode)207, response.StatusCode);
        var xml = XDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        XNamespace dav = "DAV:";
        var entries = xml.Descendants(dav + "response").Select(r => (Href: r.Element(dav + "href")!.Value, Length: r.Descendants(dav + "getcontentlength").SingleOrDefault()?.Value, Collection: r.Descendants(dav + "collection").Any())).ToList();
        Assert.Equal([("/a/", null, true), ("/a/sub/", null, true), ("/a/x.root", "1234", false)], entries);

        using var depth0 = Request("PROPFIND", "/a/x.root");
        depth0.Headers.Add("Depth", "0");
        Assert.Single(XDocument.Parse(await (await client.SendAsync(depth0, Ct)).Content.ReadAsStringAsync(Ct)).Descendants(dav + "response"));
    }

    [Fact]
    public async Task Scopes_AreCheckedAgainstThePath()
    {
        File.WriteAllText(Path.Combine(Directory.CreateDirectory(Path.Combine(_service.Storage, "data")).FullName, "f"), "x");
        using var anonymous = _service.CreateClient();
        using var noScope = _service.ClientWith(null);
        using var reader = _service.ClientWith("storage.read:/data");
        using var creator = _service.ClientWith("storage.read:/data storage.create:/data/alice");
        using var operatorClient = _service.ClientWith(null, "operator");

        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/data/f", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await noScope.GetAsync("/data/f", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await reader.GetAsync("/data/f", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await reader.GetAsync("/other", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await reader.GetAsync("/database/f", Ct)).StatusCode); // a prefix of a name is not a folder
        Assert.Equal(HttpStatusCode.Forbidden, (await reader.SendAsync(Request("PUT", "/data/g", "y"u8.ToArray()), Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await creator.SendAsync(Request("PUT", "/data/alice/g", "y"u8.ToArray()), Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await creator.SendAsync(Request("PUT", "/data/alice/g", "z"u8.ToArray()), Ct)).StatusCode); // overwriting is modify
        Assert.Equal(HttpStatusCode.Forbidden, (await creator.SendAsync(Request("DELETE", "/data/alice/g"), Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await operatorClient.SendAsync(Request("DELETE", "/data/alice/g"), Ct)).StatusCode);
    }

    [Fact]
    public async Task Paths_ThatLeaveTheRoot_AreRefused()
    {
        using var client = Everything();
        var outside = Path.Combine(_work, "outside.txt");
        File.WriteAllText(outside, "secret");
        Directory.CreateDirectory(_service.Storage);
        File.CreateSymbolicLink(Path.Combine(_service.Storage, "link"), outside);
        Directory.CreateSymbolicLink(Path.Combine(_service.Storage, "dir"), _work);

        Assert.Equal(HttpStatusCode.BadRequest, (await client.GetAsync("/link", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await client.GetAsync("/dir/outside.txt", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await client.SendAsync(Request("PUT", "/dir/new.txt", "x"u8.ToArray()), Ct)).StatusCode);
        // Raw dot segments, as a hostile client sends them (HttpClient would normalise them away).
        using var raw = new System.Net.Sockets.TcpClient();
        await raw.ConnectAsync(IPAddress.Loopback, _service.Url.Port, Ct);
        await using var stream = raw.GetStream();
        var token = client.DefaultRequestHeaders.Authorization!.Parameter;
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET /a/../../outside.txt HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"), Ct);
        using var reader = new StreamReader(stream);
        var answer = await reader.ReadToEndAsync(Ct);
        Assert.DoesNotContain("secret", answer, StringComparison.Ordinal);
        Assert.Equal("secret", File.ReadAllText(outside));
    }

    [Fact]
    public async Task Put_ShortBody_LeavesNothing()
    {
        using var client = Everything();
        using var request = Request("PUT", "/short.bin", new byte[10]);
        request.Content!.Headers.ContentLength = 10;
        // A body that ends before its Content-Length: the client disconnects mid-upload.
        using var raw = new System.Net.Sockets.TcpClient();
        await raw.ConnectAsync(IPAddress.Loopback, _service.Url.Port, Ct);
        var token = client.DefaultRequestHeaders.Authorization!.Parameter;
        await using (var stream = raw.GetStream())
        {
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"PUT /short.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Length: 1000000\r\n\r\n"), Ct);
            await stream.WriteAsync(new byte[1000], Ct);
            // The service has begun the upload (its temporary file is there) before the client goes.
            await Poll.UntilAsync(() => Directory.Exists(_service.Storage) && Directory.GetFiles(_service.Storage, "*", SearchOption.AllDirectories).Length > 0,
                TimeSpan.FromSeconds(10), "the upload's temporary file", Ct);
        }

        raw.Close();
        // The service notices the cut upload and removes what it had written (its temporary file) before the file could be named.
        await Poll.UntilAsync(() => !Directory.Exists(_service.Storage) || Directory.GetFiles(_service.Storage, "*", SearchOption.AllDirectories).Length == 0,
            TimeSpan.FromSeconds(10), "the cut upload's temporary file to be removed", Ct);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/short.bin", Ct)).StatusCode);
        Assert.Empty(Directory.Exists(_service.Storage) ? Directory.GetFiles(_service.Storage, "*", SearchOption.AllDirectories) : []);
    }
}
