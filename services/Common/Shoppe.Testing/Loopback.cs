using System.Net;
using System.Net.Sockets;

namespace Shoppe.Testing;

/// <summary>Free loopback ports, and waits for a server on one to answer.</summary>
public static class Loopback
{
    /// <summary>How long a server is given to come up.</summary>
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    /// <summary>A port no one listens on now (the OS's pick).</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
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
