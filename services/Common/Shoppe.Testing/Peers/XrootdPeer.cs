using System.Runtime.Versioning;

namespace Shoppe.Testing;

/// <summary>What an <see cref="XrootdPeer"/> is: an HTTP origin, an HTTP-TPC endpoint, or XCache in front of another.</summary>
public sealed record XrootdOptions
{
    /// <summary>Its name: its folders under the work folder and its instance name (<c>-n shoppe-NAME</c>).</summary>
    public required string Name { get; init; }

    /// <summary>The folder it serves; null: a new world-writable <c>NAME-data</c> under the work folder.</summary>
    public string? Data { get; init; }

    /// <summary>
    /// TLS material (a throwaway CA and host certificate) and the HTTP-TPC handler with adler32 checksums: XrdHttp
    /// loads the TPC handler only with TLS configured. Plain HTTP is still what it listens on.
    /// </summary>
    public bool ThirdPartyCopy { get; init; }

    /// <summary>XCache: proxies and caches the root:// port of this origin (pss + pfc, 1 MiB blocks, as XRootD documents it).</summary>
    public int? CacheOfRootPort { get; init; }
}

/// <summary>
/// A real XRootD server with XrdHttp on a loopback port (kept there by the loopback shim: XRootD has no listen
/// address setting), as the cache's interop tests and benchmark, and the transfer's interop tests and benchmark use it.
/// </summary>
[UnsupportedOSPlatform("windows")]
public sealed class XrootdPeer : IAsyncDisposable
{
    private const UnixFileMode EveryoneMayWrite = (UnixFileMode)0b111_111_111;

    private readonly PeerProcess _process;

    private XrootdPeer(PeerProcess process, int rootPort, string data, string run)
    {
        _process = process;
        RootPort = rootPort;
        Data = data;
        Run = run;
    }

    /// <summary>The HTTP port.</summary>
    public int Port => _process.Port;

    /// <summary>The root:// port.</summary>
    public int RootPort { get; }

    /// <summary>The folder it serves (world-writable: XRootD runs as the xrootd user).</summary>
    public string Data { get; }

    /// <summary>Its configuration, log and admin folder.</summary>
    public string Run { get; }

    /// <summary>Its HTTP address.</summary>
    public string Url => _process.Url;

    /// <summary>Configures and starts one under <paramref name="work"/>, and waits until it listens.</summary>
    public static async Task<XrootdPeer> StartAsync(string work, XrootdOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        File.SetUnixFileMode(work, EveryoneMayWrite);
        var data = options.Data ?? Directory.CreateDirectory(Path.Combine(work, options.Name + "-data")).FullName;
        if (options.Data is null)
        {
            File.SetUnixFileMode(data, EveryoneMayWrite);
        }

        var run = Directory.CreateDirectory(Path.Combine(work, options.Name)).FullName;
        File.SetUnixFileMode(run, EveryoneMayWrite);
        var http = Loopback.FreePort();
        var root = Loopback.FreePort();
        var config = new List<string>
        {
            "all.role server",
            "all.export /",
            $"all.adminpath {run}/admin",
            $"all.pidpath {run}",
            $"xrd.port {root}",
            $"xrd.protocol XrdHttp:{http} libXrdHttp.so",
        };
        if (options.CacheOfRootPort is { } origin)
        {
            var cache = Directory.CreateDirectory(Path.Combine(run, "cache")).FullName;
            File.SetUnixFileMode(cache, EveryoneMayWrite);
            config.AddRange([
                "ofs.osslib libXrdPss.so", "pss.cachelib libXrdPfc.so", $"pss.origin 127.0.0.1:{origin}", $"oss.localroot {cache}",
                "pfc.ram 2g", "pfc.blocksize 1M", "pfc.prefetch 10", "pfc.diskusage 0.90 0.95", "pfc.trace warning"]);
        }
        else
        {
            config.Add($"oss.localroot {data}");
        }

        if (options.ThirdPartyCopy)
        {
            var tls = await ThrowawayTlsAsync(work, cancellationToken);
            config.AddRange([
                $"xrd.tls {tls}/host.pem {tls}/host.key", $"xrd.tlsca certdir {tls}/cadir",
                "http.exthandler xrdtpc libXrdHttpTPC.so", "http.desthttps false", "xrootd.chksum adler32"]);
        }

        var file = Path.Combine(run, "xrootd.cfg");
        await File.WriteAllLinesAsync(file, config, cancellationToken);
        try
        {
            var process = await PeerProcess.StartAsync(Repository.Tool("xrootd"), ["-c", file, "-l", Path.Combine(run, "xrootd.log"), "-R", "xrootd", "-n", "shoppe-" + options.Name],
                http, new Dictionary<string, string> { ["LD_PRELOAD"] = Repository.LoopbackShim }, cancellationToken: cancellationToken);
            return new XrootdPeer(process, root, data, run);
        }
        catch (Exception ex) when (ex is TimeoutException or InvalidOperationException)
        {
            throw new InvalidOperationException($"XRootD {options.Name} did not come up; its log is under {run}.", ex);
        }
    }

    /// <summary>A CA and a host certificate for localhost and 127.0.0.1, made once per work folder.</summary>
    private static async Task<string> ThrowawayTlsAsync(string work, CancellationToken cancellationToken)
    {
        var tls = Path.Combine(work, "tls");
        if (File.Exists(Path.Combine(tls, "host.pem")))
        {
            return tls;
        }

        Directory.CreateDirectory(tls);
        var openssl = Repository.Tool("openssl");
        await PeerProcess.RunAsync(openssl, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", Path.Combine(tls, "ca.key"), "-out", Path.Combine(tls, "ca.pem"), "-days", "2", "-subj", "/CN=shoppe-test-CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"], cancellationToken);
        await PeerProcess.RunAsync(openssl, ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", Path.Combine(tls, "host.key"), "-out", Path.Combine(tls, "host.csr"), "-subj", "/CN=localhost"], cancellationToken);
        await File.WriteAllTextAsync(Path.Combine(tls, "ext.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n", cancellationToken);
        await PeerProcess.RunAsync(openssl, ["x509", "-req", "-in", Path.Combine(tls, "host.csr"), "-CA", Path.Combine(tls, "ca.pem"), "-CAkey", Path.Combine(tls, "ca.key"), "-CAcreateserial", "-out", Path.Combine(tls, "host.pem"), "-days", "2", "-extfile", Path.Combine(tls, "ext.cnf")], cancellationToken);
        var ca = Directory.CreateDirectory(Path.Combine(tls, "cadir")).FullName;
        File.Copy(Path.Combine(tls, "ca.pem"), Path.Combine(ca, "ca.pem"));
        await PeerProcess.RunAsync(openssl, ["rehash", ca], cancellationToken);
        if (Environment.UserName == "root")
        {
            await PeerProcess.RunAsync("chown", ["-R", "xrootd", tls], cancellationToken);
        }

        return tls;
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => _process.DisposeAsync();
}
