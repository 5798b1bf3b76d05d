using System.Net;
using System.Net.Sockets;

namespace Shoppe.Cache.Tests;

/// <summary>
/// What the process-level tests and the benchmark share (the benchmark links this file): free loopback ports,
/// the repository, installed tools.
/// </summary>
internal static class Loopback
{
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Shoppe.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("The repository root (Shoppe.sln) is not above the test's folder.");
    }

    public static string Tool(string name)
    {
        foreach (var dir in new[] { "/usr/sbin", "/usr/bin", "/usr/local/bin" })
        {
            if (File.Exists(Path.Combine(dir, name)))
            {
                return Path.Combine(dir, name);
            }
        }

        throw new InvalidOperationException($"{name} is not installed: eng/install-test-deps.sh installs the cache's test peers.");
    }

    /// <summary>Waits until a Coffea Shoppe service at <paramref name="url"/> answers <c>/alive</c> (30 s at most).</summary>
    public static async Task WaitAliveAsync(string url)
    {
        using var probe = new HttpClient();
        for (var i = 0; i < 300; i++)
        {
            try
            {
                if ((await probe.GetAsync(url + "/alive")).IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"{url} did not start.");
    }
}
