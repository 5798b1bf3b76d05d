using System.Diagnostics;

namespace Shoppe.Testing;

/// <summary>
/// A server process on a loopback port (a peer such as XRootD or nginx, or one of our services run as a facility
/// runs it): started, its output drained, waited for until it listens, killed with its children when disposed.
/// </summary>
public sealed class PeerProcess : IAsyncDisposable
{
    private readonly Process _process;

    private PeerProcess(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    /// <summary>The port it listens on.</summary>
    public int Port { get; }

    /// <summary>Its address, <c>http://127.0.0.1:port</c>.</summary>
    public string Url => $"http://127.0.0.1:{Port}";

    /// <summary>Whether it has exited.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>Starts <paramref name="file"/> and waits until it listens on <paramref name="port"/>.</summary>
    /// <param name="file">The program.</param>
    /// <param name="args">Its arguments.</param>
    /// <param name="port">The port it will listen on.</param>
    /// <param name="environment">Variables set for it.</param>
    /// <param name="workingDirectory">Where it runs (our services read their appsettings.json from there).</param>
    /// <param name="cancellationToken">Gives up waiting.</param>
    public static async Task<PeerProcess> StartAsync(string file, IEnumerable<string> args, int port, IReadOnlyDictionary<string, string>? environment = null,
        string? workingDirectory = null, CancellationToken cancellationToken = default)
    {
        var start = new ProcessStartInfo(file, args)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory ?? AppContext.BaseDirectory,
        };
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException($"{file} did not start.");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var peer = new PeerProcess(process, port);
        try
        {
            await Loopback.WaitListeningAsync(port, gaveUp: () => process.HasExited, cancellationToken: cancellationToken);
            return peer;
        }
        catch
        {
            await peer.DisposeAsync();
            throw;
        }
    }

    /// <summary>Runs a short command to its end; its output, or an exception with its error output when it fails.</summary>
    public static async Task<string> RunAsync(string file, IEnumerable<string> args, CancellationToken cancellationToken = default)
    {
        var start = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{file} did not start.");
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var error = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken).WaitAsync(TimeSpan.FromMinutes(2), cancellationToken);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{Path.GetFileName(file)} {string.Join(' ', start.ArgumentList)} exited {process.ExitCode}: {await error}{await output}");
        }

        return await output;
    }

    /// <summary>Kills it (and what it started) and waits for it to be gone.</summary>
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
