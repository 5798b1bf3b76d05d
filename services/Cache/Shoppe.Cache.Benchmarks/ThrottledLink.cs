using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Shoppe.Cache.Benchmarks;

/// <summary>
/// A slower origin on loopback: TCP relays to the origin's ports that share one link of a fixed rate for what the
/// origin sends (requests go through unhindered), as a site's cache sees remote storage over its WAN. A cache's
/// cold reads are then bounded by the link, not by the two cores the origin, the cache and the reader share.
/// </summary>
internal sealed class ThrottledLink(long bytesPerSecond) : IAsyncDisposable
{
    private readonly List<TcpListener> _listeners = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _pace = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private double _free;

    /// <summary>Relays a new loopback port to <paramref name="targetPort"/>; returns the new port.</summary>
    public int Relay(int targetPort)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        _listeners.Add(listener);
        _ = AcceptAsync(listener, targetPort);
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private async Task AcceptAsync(TcpListener listener, int targetPort)
    {
        try
        {
            while (true)
            {
                var client = await listener.AcceptTcpClientAsync(_stop.Token);
                _ = RunAsync(client, targetPort);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    private async Task RunAsync(TcpClient client, int targetPort)
    {
        using (client)
        using (var origin = new TcpClient())
        {
            try
            {
                client.NoDelay = origin.NoDelay = true;
                await origin.ConnectAsync(IPAddress.Loopback, targetPort, _stop.Token);
                var up = client.GetStream().CopyToAsync(origin.GetStream(), _stop.Token);
                var down = CopyPacedAsync(origin.GetStream(), client.GetStream());
                await Task.WhenAny(up, down);
            }
            catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException)
            {
            }
        }
    }

    private async Task CopyPacedAsync(Stream from, Stream to)
    {
        var buffer = new byte[64 * 1024];
        int n;
        while ((n = await from.ReadAsync(buffer, _stop.Token)) > 0)
        {
            // The link carries one chunk after another: this one is through when the link is free again.
            TimeSpan wait;
            lock (_pace)
            {
                // Up to 10 ms of the link's time left unused (a timer that woke late, a pause) can be made up.
                var now = _clock.Elapsed.TotalSeconds;
                _free = Math.Max(_free, now - 0.010) + ((double)n / bytesPerSecond);
                wait = TimeSpan.FromSeconds(_free - now);
            }

            // Timers tick in milliseconds: shorter waits are made up by the next chunk's.
            if (wait > TimeSpan.FromMilliseconds(2))
            {
                await Task.Delay(wait, _stop.Token);
            }

            await to.WriteAsync(buffer.AsMemory(0, n), _stop.Token);
        }
    }

    public ValueTask DisposeAsync()
    {
        _stop.Cancel();
        foreach (var listener in _listeners)
        {
            listener.Stop();
        }

        _stop.Dispose();
        return ValueTask.CompletedTask;
    }
}
