using System.Net;
using System.Security.Cryptography;

namespace Shoppe.Transfer.Tests;

/// <summary>COPY in pull and push mode between two instances of the service and from a plain HTTP origin: markers, the last line, no partial files.</summary>
public sealed class ThirdPartyCopyTests : EndpointPairTestBase
{
    private static async Task<string> CopyAsync(HttpClient client, string path, IDictionary<string, string> headers, HttpStatusCode expected = HttpStatusCode.Accepted)
    {
        using var request = new HttpRequestMessage(new HttpMethod("COPY"), path);
        foreach (var (k, v) in headers)
        {
            request.Headers.TryAddWithoutValidation(k, v);
        }

        using var response = await client.SendAsync(request, Ct);
        var body = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.StatusCode == expected, $"{(int)response.StatusCode}: {body}");
        return body;
    }

    private static string Put(TransferServiceFactory service, string path, byte[] data)
    {
        var local = Path.Combine(service.Storage, path.TrimStart('/'));
        Directory.CreateDirectory(Path.GetDirectoryName(local)!);
        File.WriteAllBytes(local, data);
        return local;
    }

    [Fact]
    public async Task Pull_FromAnotherEndpoint_WithForwardedToken_CopiesTheFile()
    {
        var data = RandomNumberGenerator.GetBytes(5_000_000);
        Put(A, "/src/f.bin", data);
        using var b = B.ClientWith("storage.modify:/");
        var readToken = A.Token("alice", "storage.read:/src");

        var body = await CopyAsync(b, "/dst/f.bin", new Dictionary<string, string>
        {
            ["Source"] = new Uri(A.Url, "/src/f.bin").AbsoluteUri,
            ["TransferHeaderAuthorization"] = "Bearer " + readToken,
            ["Credential"] = "none",
            ["RequireChecksumVerification"] = "true",
        });

        Assert.StartsWith("Perf Marker\nTimestamp: ", body, StringComparison.Ordinal);
        Assert.Contains("Stripe Index: 0\nStripe Bytes Transferred: ", body, StringComparison.Ordinal);
        Assert.Contains("Total Stripe Count: 1\nRemoteConnections: tcp:127.0.0.1:", body, StringComparison.Ordinal);
        Assert.EndsWith("End\nsuccess: Created\n", body, StringComparison.Ordinal);
        Assert.Equal(data, File.ReadAllBytes(Path.Combine(B.Storage, "dst", "f.bin")));
    }

    [Fact]
    public async Task Push_ToAnotherEndpoint_CopiesTheFile()
    {
        var data = RandomNumberGenerator.GetBytes(2_000_000);
        Put(A, "/src/p.bin", data);
        using var a = A.ClientWith("storage.read:/");

        var body = await CopyAsync(a, "/src/p.bin", new Dictionary<string, string>
        {
            ["Destination"] = new Uri(B.Url, "/in/p.bin").AbsoluteUri,
            ["TransferHeaderAuthorization"] = "Bearer " + B.Token("alice", "storage.create:/in"),
        });

        Assert.EndsWith("success: Created\n", body, StringComparison.Ordinal);
        Assert.DoesNotContain("RemoteConnections", body, StringComparison.Ordinal);
        Assert.Equal(data, File.ReadAllBytes(Path.Combine(B.Storage, "in", "p.bin")));
    }

    [Fact]
    public async Task Pull_SlowSource_SendsMarkersAsItGoes()
    {
        await using var origin = new TestOrigin();
        origin.Write("slow.bin", RandomNumberGenerator.GetBytes(600_000));
        origin.BytesPerSecond = 600_000; // about a second
        await origin.StartAsync();
        using var b = B.ClientWith("storage.modify:/");

        var body = await CopyAsync(b, "/slow.bin", new Dictionary<string, string> { ["Source"] = origin.Url + "/slow.bin" });

        var transferred = body.Split('\n').Where(l => l.StartsWith("Stripe Bytes Transferred: ", StringComparison.Ordinal)).Select(l => long.Parse(l["Stripe Bytes Transferred: ".Length..], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.True(transferred.Count >= 3, body);
        Assert.Equal(0, transferred[0]);
        Assert.Equal(transferred.Order(), transferred);
        Assert.EndsWith("success: Created\n", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Failures_EndWithAFailureLineAndLeaveNothing()
    {
        await using var origin = new TestOrigin();
        await origin.StartAsync();
        using var b = B.ClientWith("storage.modify:/ storage.read:/");

        var missing = await CopyAsync(b, "/x.bin", new Dictionary<string, string> { ["Source"] = origin.Url + "/missing.bin" });
        Assert.EndsWith("failure: Remote side failed with status code 404\n", missing, StringComparison.Ordinal);

        var closed = await CopyAsync(b, "/x.bin", new Dictionary<string, string> { ["Source"] = $"http://127.0.0.1:{Loopback.FreePort()}/f" });
        Assert.Contains("\nfailure: ", closed, StringComparison.Ordinal);
        Assert.False(Directory.Exists(B.Storage) && Directory.EnumerateFiles(B.Storage, "*", SearchOption.AllDirectories).Any());

        origin.Write("bad.bin", new byte[1000]);
        var badDigest = await CopyAsync(b, "/x.bin", new Dictionary<string, string> { ["Source"] = origin.Url + "/bad.bin", ["RequireChecksumVerification"] = "true" });
        Assert.EndsWith("failure: Checksum verification was asked for, and the remote gave no adler32 digest\n", badDigest, StringComparison.Ordinal);
        Assert.False(Directory.EnumerateFiles(B.Storage, "*", SearchOption.AllDirectories).Any());

        await CopyAsync(b, "/x.bin", new Dictionary<string, string>(), HttpStatusCode.BadRequest); // neither Source nor Destination
        await CopyAsync(b, "/x.bin", new Dictionary<string, string> { ["Source"] = "file:///etc/passwd" }, HttpStatusCode.BadRequest);
        await CopyAsync(b, "/x.bin", new Dictionary<string, string> { ["Source"] = origin.Url + "/bad.bin", ["Credential"] = "gridsite" }, HttpStatusCode.BadRequest);

        Put(B, "/exists.bin", [1, 2, 3]);
        await CopyAsync(b, "/exists.bin", new Dictionary<string, string> { ["Source"] = origin.Url + "/bad.bin", ["Overwrite"] = "F" }, HttpStatusCode.PreconditionFailed);
        Assert.Equal([1, 2, 3], File.ReadAllBytes(Path.Combine(B.Storage, "exists.bin")));

        using var readOnly = B.ClientWith("storage.read:/");
        await CopyAsync(readOnly, "/y.bin", new Dictionary<string, string> { ["Source"] = origin.Url + "/bad.bin" }, HttpStatusCode.Forbidden);
        // An empty Destination header beside a Source is still a pull: it needs write scope.
        await CopyAsync(readOnly, "/exists.bin", new Dictionary<string, string> { ["Source"] = origin.Url + "/bad.bin", ["Destination"] = "" }, HttpStatusCode.Forbidden);
        Assert.Equal([1, 2, 3], File.ReadAllBytes(Path.Combine(B.Storage, "exists.bin")));
    }
}
