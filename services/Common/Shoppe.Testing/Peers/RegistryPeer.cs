namespace Shoppe.Testing;

/// <summary>
/// A real OCI distribution registry (Debian's docker-registry, the CNCF distribution) on a loopback port, storing in
/// a folder of its own, plain HTTP: the site registry a release's images are pushed to.
/// </summary>
public static class RegistryPeer
{
    /// <summary>Starts a registry in <paramref name="work"/>/<paramref name="name"/> and waits until it listens.</summary>
    public static async Task<PeerProcess> StartAsync(string work, string name, CancellationToken cancellationToken = default)
    {
        var run = Directory.CreateDirectory(Path.Combine(work, name)).FullName;
        var port = Loopback.FreePort();
        var config = Path.Combine(run, "config.yml");
        await File.WriteAllTextAsync(config, $"""
            version: 0.1
            log:
              level: warn
            storage:
              filesystem:
                rootdirectory: {run}/data
            http:
              addr: 127.0.0.1:{port}
            """, cancellationToken);
        return await PeerProcess.StartAsync(Repository.Tool("docker-registry"), ["serve", config], port, cancellationToken: cancellationToken);
    }
}
