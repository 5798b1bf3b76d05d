using System.Collections.Concurrent;
using System.Diagnostics;

namespace Shoppe.Testing.Hosting;

/// <summary>
/// Services and pilots as real processes (the dlls a test project's references put beside it), so a test can
/// kill one with SIGKILL mid-work. Each service gets a free loopback port; everything still running is killed
/// when the test ends. What they print is kept (the last lines say why one failed to start).
/// </summary>
/// <param name="folder">Where the dlls are (the test's own output folder by default).</param>
public sealed class ServiceProcesses(string? folder = null) : IDisposable
{
    private readonly string _folder = folder ?? AppContext.BaseDirectory;
    private readonly List<Process> _processes = [];
    private readonly ConcurrentQueue<string> _output = new();

    /// <summary>The last lines every process printed, for a failure's message.</summary>
    public string Output => string.Join('\n', _output.TakeLast(200));

    /// <summary>Starts <paramref name="dll"/> (a service) on a free loopback port and waits until it answers <c>/alive</c>.</summary>
    /// <param name="dll">The service's dll, e.g. <c>Shoppe.Delivery.dll</c>.</param>
    /// <param name="environment">Its settings, as environment variables (<c>Shoppe__DataRoot</c>, <c>Delivery__Store</c>...).</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>The process and its base URL.</returns>
    public async Task<(Process Process, Uri Url)> StartServiceAsync(string dll, IReadOnlyDictionary<string, string> environment, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(environment);
        var port = Loopback.FreePort();
        var process = Start([Path.Combine(_folder, dll), $"--urls=http://127.0.0.1:{port}"], new Dictionary<string, string>(environment) { ["OTEL_SDK_DISABLED"] = "true" });
        var url = new Uri($"http://127.0.0.1:{port}");
        using var exited = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        void OnExit(object? sender, EventArgs e)
        {
            try
            {
                exited.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // It exited after the wait was over.
            }
        }

        process.EnableRaisingEvents = true;
        process.Exited += OnExit;
        try
        {
            await Loopback.WaitAliveAsync(url.ToString().TrimEnd('/'), TimeSpan.FromSeconds(60), exited.Token);
        }
        catch (OperationCanceledException) when (process.HasExited && !cancellationToken.IsCancellationRequested)
        {
            // Said at once, with what it printed, rather than after the whole wait.
            throw new InvalidOperationException($"{dll} exited with code {process.ExitCode} before it answered /alive:\n{Output}");
        }
        finally
        {
            process.Exited -= OnExit;
        }

        return (process, url);
    }

    /// <summary>Starts a pilot (<c>shoppe pilot</c>) taking jobs from <paramref name="servers"/>.</summary>
    /// <param name="servers">The services it serves (workflow, delivery).</param>
    /// <param name="token">Its token (the <c>pilot</c> role for every user's work).</param>
    /// <param name="workDirectory">Its work folder.</param>
    /// <param name="cores">Its cores.</param>
    /// <returns>The pilot's process (its id is in the pilot's id: <c>host-pid-random</c>).</returns>
    public Process StartPilot(IEnumerable<Uri> servers, string token, string workDirectory, int cores = 1)
    {
        ArgumentNullException.ThrowIfNull(servers);
        var arguments = new List<string> { Path.Combine(_folder, "shoppe.dll"), "pilot", "--cores", cores.ToString(System.Globalization.CultureInfo.InvariantCulture), "--work-dir", workDirectory };
        foreach (var server in servers)
        {
            arguments.AddRange(["--server", server.ToString()]);
        }

        return Start(arguments, new Dictionary<string, string> { ["SHOPPE_TOKEN"] = token });
    }

    /// <summary>Starts <c>dotnet</c> with <paramref name="arguments"/> and <paramref name="environment"/>.</summary>
    /// <param name="arguments">The dll and its arguments.</param>
    /// <param name="environment">Environment variables to set.</param>
    /// <returns>The process.</returns>
    public Process Start(IEnumerable<string> arguments, IReadOnlyDictionary<string, string> environment)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        ArgumentNullException.ThrowIfNull(environment);
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, e) => Keep(process, e.Data);
        process.ErrorDataReceived += (_, e) => Keep(process, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        lock (_processes)
        {
            _processes.Add(process);
        }

        return process;
    }

    /// <summary>Kills every process still running.</summary>
    public void Dispose()
    {
        lock (_processes)
        {
            foreach (var process in _processes)
            {
                try
                {
                    process.Kill(entireProcessTree: true);
                    process.WaitForExit(5000);
                }
                catch (InvalidOperationException)
                {
                    // Ended already.
                }

                process.Dispose();
            }

            _processes.Clear();
        }
    }

    private void Keep(Process process, string? line)
    {
        if (line is null)
        {
            return;
        }

        _output.Enqueue($"[{process.Id}] {line}");
        while (_output.Count > 2000 && _output.TryDequeue(out _))
        {
        }
    }
}
