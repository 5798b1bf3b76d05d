using System.Diagnostics;
using System.Text;

namespace Shoppe.Release;

/// <summary>Runs the tools a release needs (git, dotnet) and captures what they say.</summary>
public static class Processes
{
    /// <summary>Runs <paramref name="file"/> with <paramref name="arguments"/> in <paramref name="folder"/>; returns the exit code and all output.</summary>
    public static async Task<(int Code, string Output)> RunAsync(string file, IEnumerable<string> arguments, string folder, CancellationToken cancellationToken,
        Action<string>? onLine = null, IReadOnlyDictionary<string, string>? environment = null)
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
            process.Kill(entireProcessTree: true);
            throw;
        }

        lock (output)
        {
            return (process.ExitCode, output.ToString());
        }
    }

    /// <summary>Runs git in <paramref name="repository"/> and returns its output, or throws with what it said.</summary>
    public static async Task<string> GitAsync(string repository, CancellationToken cancellationToken, params string[] arguments)
    {
        var (code, output) = await RunAsync("git", arguments, repository, cancellationToken);
        return code == 0 ? output : throw new ReleaseException($"git {string.Join(' ', arguments)} failed: {output.Trim()}");
    }
}
