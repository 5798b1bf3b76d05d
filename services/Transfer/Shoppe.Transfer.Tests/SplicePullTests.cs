using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Shoppe.Transfer.Tpc;

namespace Shoppe.Transfer.Tests;

/// <summary>
/// Pulls whose body is spliced from the socket into the file, against our own endpoint and against raw HTTP answers
/// a real server could give: a head that comes in pieces and a body that trickles, a redirect and a chunked body
/// (left to HttpClient), a body cut short, an error, a head too large.
/// </summary>
public sealed class SplicePullTests : EndpointPairTestBase
{
    private async Task<string> PullAsync(string source, string target = "/in.bin")
    {
        using var client = B.ClientWith("storage.modify:/");
        using var request = new HttpRequestMessage(new HttpMethod("COPY"), target);
        request.Headers.TryAddWithoutValidation("Source", source);
        request.Headers.TryAddWithoutValidation("TransferHeaderAuthorization", "Bearer " + A.Token("alice", "storage.read:/"));
        using var response = await client.SendAsync(request, Ct);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        return await response.Content.ReadAsStringAsync(Ct);
    }

    private string Stored(string name = "in.bin") => Path.Combine(B.Storage, name);

    /// <summary>A server that answers each connection with what <paramref name="answer"/> writes to its stream.</summary>
    private static (int Port, Task Serving) Serve(Func<NetworkStream, Task> answer, int connections = 1)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var serving = Task.Run(async () =>
        {
            try
            {
                for (var i = 0; i < connections; i++)
                {
                    using var client = await listener.AcceptTcpClientAsync(Ct);
                    var stream = client.GetStream();
                    var head = new byte[16384];
                    var n = 0;
                    while (!Encoding.ASCII.GetString(head, 0, n).Contains("\r\n\r\n", StringComparison.Ordinal))
                    {
                        n += await stream.ReadAsync(head.AsMemory(n), Ct);
                    }

                    await answer(stream);
                }
            }
            finally
            {
                listener.Stop();
            }
        }, Ct);
        return (port, serving);
    }

    [Fact]
    public async Task Pull_PlainHttpSource_IsSplicedIntoTheFile()
    {
        var data = RandomNumberGenerator.GetBytes(12_345_678);
        Directory.CreateDirectory(A.Storage);
        await File.WriteAllBytesAsync(Path.Combine(A.Storage, "big.bin"), data, Ct);
        var before = SplicePull.SplicedBytes;

        var body = await PullAsync(new Uri(A.Url, "/big.bin").ToString());

        Assert.EndsWith("success: Created\n", body, StringComparison.Ordinal);
        Assert.Equal(data, await File.ReadAllBytesAsync(Stored(), Ct));
        Assert.True(SplicePull.SplicedBytes - before >= data.Length / 2, "the body did not go by splice");
    }

    [Fact]
    public async Task Pull_HeadInPiecesAndATricklingBody_ArrivesWhole()
    {
        var data = RandomNumberGenerator.GetBytes(300_000);
        var (port, serving) = Serve(async stream =>
        {
            foreach (var piece in new[] { "HTTP/1.1 200 OK\r\nContent-Le", $"ngth: {data.Length}\r\nContent-Type: application/octet-stream\r\n", "\r\n" })
            {
                await stream.WriteAsync(Encoding.ASCII.GetBytes(piece), Ct);
                await Task.Delay(30, Ct);
            }

            for (var at = 0; at < data.Length; at += 50_000)
            {
                await stream.WriteAsync(data.AsMemory(at, Math.Min(50_000, data.Length - at)), Ct);
                await Task.Delay(20, Ct);
            }
        });

        var body = await PullAsync($"http://127.0.0.1:{port}/f");
        await serving;

        Assert.EndsWith("success: Created\n", body, StringComparison.Ordinal);
        Assert.Equal(data, await File.ReadAllBytesAsync(Stored(), Ct));
    }

    [Fact]
    public async Task Pull_Redirect_IsFollowedByHttpClient()
    {
        var data = RandomNumberGenerator.GetBytes(100_000);
        await using var origin = new TestOrigin();
        origin.Write("moved.bin", data);
        await origin.StartAsync();
        var target = origin.Url + "/moved.bin";
        // The first connection is our splice attempt; the second, HttpClient asking again and following the redirect.
        var (port, serving) = Serve(stream => stream.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 302 Found\r\nLocation: {target}\r\nContent-Length: 0\r\n\r\n"), Ct).AsTask(), connections: 2);

        var body = await PullAsync($"http://127.0.0.1:{port}/old.bin");
        await serving;

        Assert.EndsWith("success: Created\n", body, StringComparison.Ordinal);
        Assert.Equal(data, await File.ReadAllBytesAsync(Stored(), Ct));
    }

    [Fact]
    public async Task Pull_ChunkedBody_IsLeftToHttpClient()
    {
        var (port, serving) = Serve(stream => stream.WriteAsync("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"u8.ToArray(), Ct).AsTask(), connections: 2);

        var body = await PullAsync($"http://127.0.0.1:{port}/c");
        await serving;

        Assert.EndsWith("success: Created\n", body, StringComparison.Ordinal);
        Assert.Equal("hello world", await File.ReadAllTextAsync(Stored(), Ct));
    }

    [Fact]
    public async Task Pull_BodyCutShort_FailsAndLeavesNothing()
    {
        var (port, serving) = Serve(async stream =>
        {
            await stream.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n"u8.ToArray(), Ct);
            await stream.WriteAsync(new byte[400_000], Ct);
        });

        var body = await PullAsync($"http://127.0.0.1:{port}/cut");
        await serving;

        Assert.Contains("failure: Remote side closed the connection 600000 bytes before the end of the file", body, StringComparison.Ordinal);
        Assert.False(Directory.Exists(B.Storage) && Directory.EnumerateFiles(B.Storage, "*", SearchOption.AllDirectories).Any());
    }

    [Fact]
    public async Task Pull_ErrorOrAHugeHead_FailsSayingWhy()
    {
        var (port, serving) = Serve(stream => stream.WriteAsync("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"u8.ToArray(), Ct).AsTask());
        Assert.EndsWith("failure: Remote side failed with status code 403\n", await PullAsync($"http://127.0.0.1:{port}/no"), StringComparison.Ordinal);
        await serving;

        (port, serving) = Serve(async stream =>
        {
            await stream.WriteAsync("HTTP/1.1 200 OK\r\n"u8.ToArray(), Ct);
            try
            {
                for (var i = 0; i < 2000; i++)
                {
                    await stream.WriteAsync(Encoding.ASCII.GetBytes($"X-Filler-{i}: {new string('x', 40)}\r\n"), Ct);
                }
            }
            catch (IOException)
            {
                // The puller stopped reading at its limit and went away.
            }
        });
        Assert.Contains("failure: Remote side sent more than 65536 bytes of headers", await PullAsync($"http://127.0.0.1:{port}/huge"), StringComparison.Ordinal);
        await serving;
        Assert.False(Directory.Exists(B.Storage) && Directory.EnumerateFiles(B.Storage, "*", SearchOption.AllDirectories).Any());
    }

    [Theory]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n", 200, 42L, false, false)]
    [InlineData("HTTP/1.0 206 Partial Content\r\ncontent-length:  7 \r\n\r\n", 206, 7L, false, true)]
    [InlineData("HTTP/1.0 200 OK\r\nContent-Length: 7\r\nConnection: keep-alive\r\n\r\n", 200, 7L, false, false)]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\n", 200, 7L, false, true)]
    [InlineData("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 200, null, true, false)]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 200, null, false, true)]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 200, 5L, false, false)]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 200, null, false, true)]
    public void ParseHead_Answers_GiveStatusLengthChunkingAndClose(string head, int status, long? length, bool chunked, bool close)
    {
        Assert.Equal((status, length, chunked, close), SplicePull.ParseHead(Encoding.ASCII.GetBytes(head)));
    }

    [Fact]
    public async Task Pull_SeveralFromOneRemote_ReuseAKeptAliveConnection()
    {
        var files = Enumerable.Range(0, 3).Select(i => RandomNumberGenerator.GetBytes(100_000 + i)).ToArray();
        // One connection, three answers on it; a second connection would find nobody listening.
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var serving = Task.Run(async () =>
        {
            using var client = await listener.AcceptTcpClientAsync(Ct);
            listener.Stop();
            var stream = client.GetStream();
            var reader = new StreamReader(stream, Encoding.ASCII);
            foreach (var file in files)
            {
                while (await reader.ReadLineAsync(Ct) is { Length: > 0 })
                {
                }

                await stream.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Length: {file.Length}\r\n\r\n").Concat(file).ToArray(), Ct);
            }
        }, Ct);

        for (var i = 0; i < files.Length; i++)
        {
            Assert.EndsWith("success: Created\n", await PullAsync($"http://127.0.0.1:{port}/k{i}", $"/k{i}.bin"), StringComparison.Ordinal);
            Assert.Equal(files[i], await File.ReadAllBytesAsync(Stored($"k{i}.bin"), Ct));
        }

        await serving;
    }

    [Fact]
    public async Task Pull_KeptConnectionClosedByTheRemote_IsReplacedWithoutAFailure()
    {
        var data = RandomNumberGenerator.GetBytes(50_000);
        // The first answer keeps the connection open, then the server closes it; the second pull must make a new one.
        var (port, serving) = Serve(async stream => await stream.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Length: {data.Length}\r\n\r\n").Concat(data).ToArray(), Ct), connections: 2);

        Assert.EndsWith("success: Created\n", await PullAsync($"http://127.0.0.1:{port}/one", "/one.bin"), StringComparison.Ordinal);
        Assert.EndsWith("success: Created\n", await PullAsync($"http://127.0.0.1:{port}/two", "/two.bin"), StringComparison.Ordinal);
        await serving;

        Assert.Equal(data, await File.ReadAllBytesAsync(Stored("two.bin"), Ct));
    }

    [Fact]
    public void ParseHead_NotHttp_IsRefused()
    {
        Assert.Throws<CopyFailedException>(() => SplicePull.ParseHead("SSH-2.0-OpenSSH\r\n\r\n"u8));
    }
}
