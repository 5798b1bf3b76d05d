using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using static Shoppe.Logs.Tests.Otlp;

namespace Shoppe.Logs.Tests.Clients;

/// <summary>
/// The notebook helper (tutorials/python/shoppe_logs.py) and the tutorial, run for real with the machine's
/// python3 and bash against the logs service on a loopback socket.
/// </summary>
public sealed partial class PythonHelperTests : IAsyncLifetime
{
    private const string Request = "py-1";
    private readonly LogsServiceFactory _logs = new(kestrel: true);
    private Uri? _url;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>The repository root: the tests read the tutorials where a user finds them.</summary>
    private static string RepoRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Shoppe.sln")))
            {
                dir = dir.Parent;
            }

            return dir?.FullName ?? throw new InvalidOperationException("Shoppe.sln not found above the test folder.");
        }
    }

    public async ValueTask InitializeAsync()
    {
        using var client = _logs.CreateClient();
        _url = client.BaseAddress;
        await _logs.ExportAsync(Batch("delivery",
            new Rec("transform accepted", Request, 9, "alice", 0),
            new Rec("file 1 of 1 unreadable", Request, 17, "alice", 10),
            new Rec("transform failed", Request, 17, "alice", 20, State: "failed")));
    }

    public async ValueTask DisposeAsync() => await _logs.DisposeAsync();

    [Fact]
    public async Task PythonHelper_PassesItsTestsAgainstTheRunningService()
    {
        var (exit, output) = await RunAsync("python3", ["-m", "unittest", "-v", "test_shoppe_logs"], Path.Combine(RepoRoot, "tutorials", "python"), new()
        {
            ["SHOPPE_LOGS_URL"] = _url!.ToString(),
            ["SHOPPE_TOKEN"] = _logs.Token("alice"),
            ["SHOPPE_OTHER_TOKEN"] = _logs.Token("bob"),
            ["SHOPPE_TEST_REQUEST"] = Request,
        });

        Assert.True(exit == 0, output);
        Assert.Matches(@"Ran 9 tests", output);
        Assert.DoesNotContain("skipped", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tutorial_ShellAndPythonBlocks_RunAsWritten()
    {
        var markdown = await File.ReadAllTextAsync(Path.Combine(RepoRoot, "tutorials", "reading-request-logs.md"), Ct);
        var shoppe = Path.Combine(AppContext.BaseDirectory, "shoppe.dll");
        var bash = new StringBuilder($"set -euo pipefail\nshoppe() {{ dotnet '{shoppe}' \"$@\"; }}\n");
        foreach (var block in Blocks(markdown, "bash"))
        {
            bash.AppendLine(block);
        }

        var env = new Dictionary<string, string?>
        {
            ["SHOPPE_LOGS_URL"] = _url!.ToString(),
            ["SHOPPE_KEY_FILE"] = _logs.KeyFile,
            ["SHOPPE_REQUEST"] = Request,
            ["SHOPPE_TOKEN"] = null,
        };
        var (exit, output) = await RunAsync("bash", ["-c", bash.ToString()], RepoRoot, env);
        Assert.True(exit == 0, output);
        Assert.Contains("file 1 of 1 unreadable", output, StringComparison.Ordinal);
        Assert.Contains("request finished", output, StringComparison.Ordinal);

        env["SHOPPE_TOKEN"] = _logs.Token("alice");
        env["PYTHONPATH"] = Path.Combine(RepoRoot, "tutorials", "python");
        var python = string.Join("\n", Blocks(markdown, "python"));
        (exit, output) = await RunAsync("python3", ["-c", python], RepoRoot, env);
        Assert.True(exit == 0, output);
        Assert.Contains("3 records; first error: file 1 of 1 unreadable", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Notebook_CodeCells_RunInOrder()
    {
        using var notebook = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(RepoRoot, "tutorials", "reading-request-logs.ipynb"), Ct));
        var code = string.Join("\n\n", notebook.RootElement.GetProperty("cells").EnumerateArray()
            .Where(c => c.GetProperty("cell_type").GetString() == "code")
            .Select(c => string.Concat(c.GetProperty("source").EnumerateArray().Select(s => s.GetString()))));

        var (exit, output) = await RunAsync("python3", ["-c", code], Path.Combine(RepoRoot, "tutorials"), new()
        {
            ["SHOPPE_LOGS_URL"] = _url!.ToString(),
            ["SHOPPE_TOKEN"] = _logs.Token("alice"),
            ["SHOPPE_REQUEST"] = Request,
        });

        Assert.True(exit == 0, output);
        Assert.Contains("ERROR delivery   transform failed", output, StringComparison.Ordinal);
    }

    private static IEnumerable<string> Blocks(string markdown, string language) =>
        FencePattern().Matches(markdown).Where(m => m.Groups[1].Value == language).Select(m => m.Groups[2].Value);

    [GeneratedRegex(@"```(\w+)\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex FencePattern();

    private static async Task<(int Exit, string Output)> RunAsync(string file, string[] args, string workingDirectory, Dictionary<string, string?> env)
    {
        var start = new ProcessStartInfo(file)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        foreach (var (k, v) in env)
        {
            if (v is null)
            {
                start.Environment.Remove(k);
            }
            else
            {
                start.Environment[k] = v;
            }
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(Ct);
        var stderr = process.StandardError.ReadToEndAsync(Ct);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromMinutes(2));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return (process.ExitCode, await stdout + await stderr);
    }
}
