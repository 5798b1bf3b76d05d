using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Shoppe.Cache.Tests;

namespace Shoppe.Transfer.Tests;

/// <summary>
/// A real XRootD data server with XrdHttp and its HTTP-TPC handler on a loopback port, serving a folder of its own
/// (the interop tests and the transfer benchmark link this file). XrdHttp loads the TPC handler only with TLS
/// material configured, so a throwaway CA and host certificate are made with openssl first.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
internal sealed class XrootdPeer : IAsyncDisposable
{
    private readonly Process _process;

    private XrootdPeer(Process process, int port, string data)
    {
        _process = process;
        Port = port;
        Data = data;
    }

    public int Port { get; }

    /// <summary>The folder it serves (world-writable: XRootD runs as the xrootd user).</summary>
    public string Data { get; }

    public string Url => $"http://127.0.0.1:{Port}";

    public static async Task<XrootdPeer> StartAsync(string work, string name, CancellationToken cancellationToken)
    {
        File.SetUnixFileMode(work, (UnixFileMode)0b111_111_111);
        var tls = Path.Combine(work, "tls");
        if (!File.Exists(Path.Combine(tls, "host.pem")))
        {
            Directory.CreateDirectory(tls);
            await RunAsync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", Path.Combine(tls, "ca.key"), "-out", Path.Combine(tls, "ca.pem"), "-days", "2", "-subj", "/CN=shoppe-test-CA",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"], cancellationToken);
            await RunAsync("openssl", ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", Path.Combine(tls, "host.key"), "-out", Path.Combine(tls, "host.csr"), "-subj", "/CN=localhost"], cancellationToken);
            File.WriteAllText(Path.Combine(tls, "ext.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n");
            await RunAsync("openssl", ["x509", "-req", "-in", Path.Combine(tls, "host.csr"), "-CA", Path.Combine(tls, "ca.pem"), "-CAkey", Path.Combine(tls, "ca.key"), "-CAcreateserial", "-out", Path.Combine(tls, "host.pem"), "-days", "2", "-extfile", Path.Combine(tls, "ext.cnf")], cancellationToken);
            var ca = Directory.CreateDirectory(Path.Combine(tls, "cadir")).FullName;
            File.Copy(Path.Combine(tls, "ca.pem"), Path.Combine(ca, "ca.pem"));
            await RunAsync("openssl", ["rehash", ca], cancellationToken);
            if (Environment.UserName == "root")
            {
                await RunAsync("chown", ["-R", "xrootd", tls], cancellationToken);
            }
        }

        var data = Directory.CreateDirectory(Path.Combine(work, name + "-data")).FullName;
        File.SetUnixFileMode(data, (UnixFileMode)0b111_111_111);
        var run = Directory.CreateDirectory(Path.Combine(work, name)).FullName;
        File.SetUnixFileMode(run, (UnixFileMode)0b111_111_111);
        var port = Loopback.FreePort();
        var config = Path.Combine(run, "xrootd.cfg");
        File.WriteAllText(config, $"""
            all.role server
            all.export /
            oss.localroot {data}
            all.adminpath {run}/admin
            all.pidpath {run}
            xrd.port {Loopback.FreePort()}
            xrd.protocol XrdHttp:{port} libXrdHttp.so
            xrd.tls {tls}/host.pem {tls}/host.key
            xrd.tlsca certdir {tls}/cadir
            http.exthandler xrdtpc libXrdHttpTPC.so
            http.desthttps false
            xrootd.chksum adler32
            """);
        var shim = Path.Combine(Loopback.RepoRoot(), "eng", "peers", "bin", "bindlo.so");
        if (!File.Exists(shim))
        {
            throw new InvalidOperationException($"{shim} is missing: eng/install-test-deps.sh builds it.");
        }

        var start = new ProcessStartInfo(Loopback.Tool("xrootd"), ["-c", config, "-l", Path.Combine(run, "xrootd.log"), "-R", "xrootd", "-n", "shoppe-" + name])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["LD_PRELOAD"] = shim;
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var peer = new XrootdPeer(process, port, data);
        for (var i = 0; i < 200; i++)
        {
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Loopback, port, cancellationToken);
                return peer;
            }
            catch (SocketException)
            {
                await Task.Delay(50, cancellationToken);
            }
        }

        await peer.DisposeAsync();
        throw new InvalidOperationException($"XRootD did not come up; its log is under {run}.");
    }

    private static async Task RunAsync(string file, string[] args, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var error = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken).WaitAsync(TimeSpan.FromMinutes(2), cancellationToken);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{Path.GetFileName(file)} {string.Join(' ', args)} exited {process.ExitCode}: {await error}{await output}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }
}
