using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace Shoppe.Cache.Tests;

/// <summary>
/// What the in-process cache tests share: an HTTP origin serving one 5 MiB file of random bytes at
/// <c>store/run1/nano.parquet</c>, a data folder of the test's own, and raw requests sent exactly as written.
/// </summary>
public abstract class CacheTestBase : IAsyncLifetime
{
    protected const int MiB = 1 << 20;

    protected string DataRoot { get; } = Directory.CreateTempSubdirectory("shoppe-cache-").FullName;

    protected TestOrigin OriginServer { get; } = new();

    protected byte[] FileBytes { get; } = RandomNumberGenerator.GetBytes((5 * MiB) + 12345);

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        OriginServer.Write("store/run1/nano.parquet", FileBytes);
        await OriginServer.StartAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await OriginServer.DisposeAsync();
        await TestFolders.DeleteAsync(DataRoot);
        GC.SuppressFinalize(this);
    }

    /// <summary>Sends the request target exactly as given (HttpClient would normalise it); the answer's status.</summary>
    protected static async Task<int> RawStatusAsync(int port, string target)
    {
        using var socket = new TcpClient();
        await socket.ConnectAsync(IPAddress.Loopback, port, Ct);
        var stream = socket.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"), Ct);
        using var reader = new StreamReader(stream);
        var statusLine = await reader.ReadLineAsync(Ct) ?? "";
        return int.Parse(statusLine.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
    }
}
