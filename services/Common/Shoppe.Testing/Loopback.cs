using System.Net;
using System.Net.Sockets;

namespace Shoppe.Testing;

/// <summary>Free loopback ports, and waits for a server on one to answer.</summary>
public static class Loopback
{
    /// <summary>How long a server is given to come up.</summary>
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    // Ports this process has handed out: the OS may pick a port again as soon as the probe closes it, and servers
    // started together (a test's three nodes, each with two ports) would then collide.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<int, byte> HandedOut = new();

    /// <summary>A port no one listens on now (the OS's pick), and not one this process has handed out before.</summary>
    public static int FreePort()
    {
        while (true)
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            if (HandedOut.TryAdd(port, 0))
            {
                return port;
            }
        }
    }

    /// <summary>Waits until a Coffea Shoppe service at <paramref name="url"/> answers <c>/alive</c>.</summary>
    public static async Task WaitAliveAsync(string url, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        // Awaited here: the probe must outlive the wait, not the call that starts it.
        using var probe = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        await Poll.UntilAsync(async () =>
        {
            try
            {
                using var response = await probe.GetAsync(new Uri(url + "/alive"), cancellationToken);
                return response.IsSuccessStatusCode;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }, timeout ?? StartTimeout, $"{url} to answer /alive", cancellationToken);
    }

    /// <summary>Waits until something accepts connections on <paramref name="port"/>.</summary>
    public static Task WaitListeningAsync(int port, TimeSpan? timeout = null, Func<bool>? gaveUp = null, CancellationToken cancellationToken = default) =>
        Poll.UntilAsync(async () =>
        {
            if (gaveUp?.Invoke() == true)
            {
                throw new InvalidOperationException($"The server meant for port {port} exited before it listened.");
            }

            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port, cancellationToken);
                return true;
            }
            catch (SocketException)
            {
                return false;
            }
        }, timeout ?? StartTimeout, $"a server to listen on 127.0.0.1:{port}", cancellationToken);
}
