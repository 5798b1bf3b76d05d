using System.Diagnostics;
using System.Text;

namespace Shoppe.Release;

/// <summary>Runs the tools a release needs (git, dotnet) and captures what they say.</summary>
public static class Processes
{
    /// <summary>
    /// Runs <paramref name="file"/> with <paramref name="arguments"/> in <paramref name="folder"/>; returns the exit code
    /// and all output. On cancellation it is killed at once, or, given <paramref name="interruptFirst"/>, sent SIGINT
    /// and given that long to stop itself first (a tool such as Pulumi then cancels cleanly).
    /// </summary>
    public static async Task<(int Code, string Output)> RunAsync(string file, IEnumerable<string> arguments, string folder, CancellationToken cancellationToken,
        Action<string>? onLine = null, IReadOnlyDictionary<string, string>? environment = null, TimeSpan? interruptFirst = null)
    {
        var start = new ProcessStartInfo(file)
        {
            WorkingDirectory = folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        using var process = new Process { StartInfo = start };
        var output = new StringBuilder();
        void Collect(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (output)
            {
                output.AppendLine(line);
            }

            onLine?.Invoke(line);
        }

        process.OutputDataReceived += (_, e) => Collect(e.Data);
        process.ErrorDataReceived += (_, e) => Collect(e.Data);
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new ReleaseException($"{file} could not be started: {ex.Message}", ex);
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await process.WaitForExitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            if (interruptFirst is { } grace && !process.HasExited)
            {
                using (var interrupt = Process.Start("kill", ["-INT", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
                {
                    await interrupt.WaitForExitAsync(CancellationToken.None);
                }

                using var waited = new CancellationTokenSource(grace);
                try
                {
                    await process.WaitForExitAsync(waited.Token);
                }
                catch (OperationCanceledException)
                {
                    // It did not stop in time.
                }
            }

            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            throw;
        }

        lock (output)
        {
            return (process.ExitCode, output.ToString());
        }
    }

    /// <summary>
    /// Runs a tool a command needs and returns its output, or throws a <see cref="ReleaseException"/>: naming
    /// <paramref name="install"/> where the tool cannot be started, and the tool's last line where it fails.
    /// </summary>
    public static async Task<string> ToolAsync(string file, string[] arguments, string folder, string install, CancellationToken cancellationToken)
    {
        int code;
        string output;
        try
        {
            (code, output) = await RunAsync(file, arguments, folder, cancellationToken);
        }
        catch (ReleaseException ex)
        {
            throw new ReleaseException($"{install}: {ex.Message}", ex);
        }

        return code == 0 ? output : throw new ReleaseException($"{file} {arguments[0]} {arguments[^1]} failed ({code}): {LastLine(output)}");
    }

    /// <summary>A tool's reason: its last line, without a Go logger's prefix (<c>time="…" level=fatal msg="…"</c>).</summary>
    private static string LastLine(string output)
    {
        var line = output.Trim().Split('\n')[^1];
        var message = line.IndexOf("msg=\"", StringComparison.Ordinal);
        return message >= 0 ? line[(message + 5)..].TrimEnd('"') : line;
    }

    /// <summary>Runs git in <paramref name="repository"/> and returns its output, or throws with what it said.</summary>
    public static async Task<string> GitAsync(string repository, CancellationToken cancellationToken, params string[] arguments)
    {
        var (code, output) = await RunAsync("git", arguments, repository, cancellationToken);
        return code == 0 ? output : throw new ReleaseException($"git {string.Join(' ', arguments)} failed: {output.Trim()}");
    }
}
