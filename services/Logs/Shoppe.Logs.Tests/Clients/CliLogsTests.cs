using Shoppe.Cli;
using Spectre.Console;
using static Shoppe.Logs.Tests.Otlp;

namespace Shoppe.Logs.Tests.Clients;

/// <summary>`shoppe logs` and `shoppe token issue` against the real logs service.</summary>
public sealed class CliLogsTests : IAsyncLifetime
{
    private readonly LogsServiceFactory _logs = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => await _logs.ExportAsync(Batch("delivery",
        new Rec("transform accepted", "cli-1", 9, "alice", 0),
        new Rec("file 1 of 1 unreadable", "cli-1", 17, "alice", 10),
        new Rec("transform failed", "cli-1", 17, "alice", 20, State: "failed")));

    public async ValueTask DisposeAsync() => await _logs.DisposeAsync();

    private async Task<(int Exit, string Output)> RunAsync(params string[] args)
    {
        var output = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Out = new AnsiConsoleOutput(output),
        });
        console.Profile.Width = 200;
        var exit = await ShoppeCli.RunAsync(args, console, _logs.Server.CreateHandler(), Ct);
        return (exit, output.ToString());
    }

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
