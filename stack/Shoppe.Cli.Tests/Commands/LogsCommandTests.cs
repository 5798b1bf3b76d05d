extern alias logs;

using logs::Shoppe.Logs.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace Shoppe.Cli.Tests.Commands;

/// <summary><c>shoppe logs</c> and <c>shoppe token issue</c> against the real logs service.</summary>
public sealed class LogsCommandTests : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);

    private readonly CliRun _cli = new();
    private TestService<logs::Program> _logs = null!;

    // How the records arrive (OTLP) is the logs service's own tests' concern; these are what the CLI reads back.
    public async ValueTask InitializeAsync()
    {
        _logs = new TestService<logs::Program>(Path.Combine(_cli.Folder, "logs"));
        // The facility's key exists, as once the facility has run: the CLI signs with it, and never makes one.
        Shoppe.Security.LocalSigningKey.LoadOrCreate(_logs.KeyFile);
        await _logs.Services.GetRequiredService<ILogStore>().AppendAsync(
        [
            Record("transform accepted", 9, 0, finishes: false),
            Record("file 1 of 1 unreadable", 17, 10, finishes: false),
            Record("transform failed", 17, 20, finishes: true),
        ], TestContext.Current.CancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        await _logs.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        _cli.Dispose();
    }

    private static LogRecordRow Record(string message, int severity, int offsetMs, bool finishes, string requestId = "cli-1") =>
        new(requestId, (T0.AddMilliseconds(offsetMs).UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) * 100, "delivery", severity, message, null, null, null, "alice", finishes);

    private Task<(int Exit, string Output)> RunAsync(params string[] args) => _cli.ShoppeAsync(_logs.Server.CreateHandler(), args);

    [Fact]
    public async Task Logs_PrintsTheOwnersRecords()
    {
        var (exit, output) = await RunAsync("logs", "cli-1", "--url", "http://localhost", "--token", _logs.Token("alice"));

        Assert.Equal(0, exit);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        Assert.Matches(@"^12:00:00\.010 ERROR delivery\s+file 1 of 1 unreadable$", lines[1].TrimEnd());
    }

    [Fact]
    public async Task Logs_OfAWorkflow_NameEachJobsLines_AndNoDescendantsLeavesThemOut()
    {
        await _logs.Services.GetRequiredService<ILogStore>().AppendAsync(
        [
            Record("job 0 reads file 1", 9, 5, finishes: false, requestId: "cli-1:0"),
            Record("sub-job of job 0 runs", 9, 15, finishes: true, requestId: "cli-1:0:3"),
        ], TestContext.Current.CancellationToken);

        var (exit, output) = await RunAsync("logs", "cli-1", "--url", "http://localhost", "--token", _logs.Token("alice"));
        var (ownExit, own) = await RunAsync("logs", "cli-1", "--no-descendants", "--url", "http://localhost", "--token", _logs.Token("alice"));

        Assert.Equal((0, 0), (exit, ownExit));
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd()).ToArray();
        Assert.Equal(5, lines.Length);
        Assert.Matches(@"^12:00:00\.000 INFO  delivery\s+transform accepted$", lines[0]);
        Assert.Matches(@"^12:00:00\.005 INFO  delivery\s+\[:0\] job 0 reads file 1$", lines[1]);
        Assert.Matches(@"^12:00:00\.015 INFO  delivery\s+\[:0:3\] sub-job of job 0 runs$", lines[3]);
        Assert.Equal(3, own.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.DoesNotContain("job 0", own, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Logs_WithLevelFilter_PrintsOnlyErrors()
    {
        var (exit, output) = await RunAsync("logs", "cli-1", "--level", "error", "--url", "http://localhost", "--token", _logs.Token("alice"));

        Assert.Equal(0, exit);
        Assert.Equal(2, output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.DoesNotContain("accepted", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Logs_Follow_EndsWhenTheRequestHasFinished()
    {
        var (exit, output) = await RunAsync("logs", "cli-1", "--follow", "--url", "http://localhost", "--token", _logs.Token("alice"));

        Assert.Equal(0, exit);
        Assert.Contains("transform failed", output, StringComparison.Ordinal);
        Assert.Contains("request finished", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Logs_OfAnotherUsersRequest_SaysWhyAndFails()
    {
        var (exit, output) = await RunAsync("logs", "cli-1", "--url", "http://localhost", "--token", _logs.Token("bob"));

        Assert.Equal(1, exit);
        Assert.Contains("error 403", output, StringComparison.Ordinal);
        Assert.Contains("Not your request", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TokenIssue_MintsATokenTheServiceAccepts()
    {
        var (exit, output) = await RunAsync("token", "issue", "--user", "alice", "--key-file", _logs.KeyFile, "--lifetime", "5m");
        Assert.Equal(0, exit);
        var token = output.Trim();

        var (logsExit, logsOutput) = await RunAsync("logs", "cli-1", "--url", "http://localhost", "--token", token);
        Assert.Equal(0, logsExit);
        Assert.Contains("transform accepted", logsOutput, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("token", "issue", "--user", "../../etc")]
    [InlineData("token", "issue", "--user", "alice", "--lifetime", "forever")]
    public async Task TokenIssue_BadInput_FailsWithAMessage(params string[] args)
    {
        var (exit, output) = await RunAsync(args);

        Assert.Equal(2, exit);
        Assert.Contains("error:", output, StringComparison.Ordinal);
    }
}
