namespace Shoppe.Testing;

/// <summary>
/// A real nginx on a loopback port, in a folder of its own (pid, logs, temporary files there, not the system's): a
/// plain web server over a folder, or whatever the caller's <c>http { }</c> block makes it (the cache benchmark's
/// proxy cache).
/// </summary>
public static class NginxPeer
{
    /// <summary>Starts nginx with <paramref name="http"/> inside its <c>http { }</c> block and waits until it listens.</summary>
    /// <param name="work">The folder its own folder is made in.</param>
    /// <param name="name">Its folder's name.</param>
    /// <param name="http">The block's content, given the port to listen on and its folder.</param>
    /// <param name="main">Directives before the <c>events</c> block (<c>user</c>, <c>worker_processes</c>).</param>
    /// <param name="cancellationToken">Gives up waiting.</param>
    public static async Task<PeerProcess> StartAsync(string work, string name, Func<int, string, string> http, string main = "", CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(http);
        var run = Directory.CreateDirectory(Path.Combine(work, name)).FullName;
        var port = Loopback.FreePort();
        var config = Path.Combine(run, "nginx.conf");
        await File.WriteAllTextAsync(config, $$"""
            {{main}}
            daemon off;
            pid {{run}}/nginx.pid;
            error_log {{run}}/error.log warn;
            events { worker_connections 1024; }
            http {
                access_log off;
                client_body_temp_path {{run}}/body; proxy_temp_path {{run}}/proxy;
                fastcgi_temp_path {{run}}/fastcgi; uwsgi_temp_path {{run}}/uwsgi; scgi_temp_path {{run}}/scgi;
            {{http(port, run)}}
            }
            """, cancellationToken);
        return await PeerProcess.StartAsync(Repository.Tool("nginx"), ["-c", config, "-p", run], port, cancellationToken: cancellationToken);
    }

    /// <summary>A plain web server over <paramref name="root"/> (ranges, as any web server).</summary>
    public static Task<PeerProcess> ServeFolderAsync(string work, string name, string root, CancellationToken cancellationToken = default) =>
        StartAsync(work, name, (port, _) => $"server {{ listen 127.0.0.1:{port}; root {root}; }}", cancellationToken: cancellationToken);
}
