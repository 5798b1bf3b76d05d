extern alias workflow;

namespace Shoppe.Cli.Tests.Commands;

/// <summary><c>shoppe workflow</c> and <c>shoppe pilot</c> against a real workflow service on a loopback port, as a user runs them.</summary>
public sealed class WorkflowCommandTests : IAsyncLifetime
{
    private readonly CliRun _cli = new();
    private TestService<workflow::Program> _service = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public ValueTask InitializeAsync()
    {
        _service = new TestService<workflow::Program>(Path.Combine(_cli.Folder, "workflow"), keyFile: _cli.Key("signing.key"), port: 0);
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await _service.DisposeAsync();
        _cli.Dispose();
    }

    [Fact]
    public async Task SubmitWatchStatusAndFiles_WithAPilot_RunTheWorkflow()
    {
        var url = _service.CreateClient().BaseAddress!.AbsoluteUri;
        var token = _service.Token("alice");
        var marker = Path.Combine(_cli.Folder, "ran");
        var document = Path.Combine(_cli.Folder, "study.yaml");
        await File.WriteAllTextAsync(document, $$"""
            name: study
            collections:
              - name: inputs
            works:
              - name: each
                action: command
                forEach: { collection: inputs }
                command: { argv: [sh, -c, "echo ${file} >> {{marker}}"] }
              - name: done
                action: noop
                after: [each]
            """, Ct);

        var (exit, output) = await _cli.ShoppeAsync("workflow", "submit", document, "--url", url, "--token", token);
        Assert.True(exit == 0, output);
        var id = System.Text.RegularExpressions.Regex.Match(output, "Workflow ([0-9a-f]{32})").Groups[1].Value;
        Assert.NotEmpty(id);

        (exit, output) = await _cli.ShoppeAsync("workflow", "files", id, "inputs", "one", "two", "--close", "--url", url, "--token", token);
        Assert.True(exit == 0, output);
        Assert.Contains("2 new of 2 files.", output, StringComparison.Ordinal);
        Assert.Contains("Input closed.", output, StringComparison.Ordinal);

        // A pilot with alice's own token runs alice's jobs, then leaves once idle.
        var pilot = _cli.ShoppeAsync("pilot", "--server", url, "--token", token, "--cores", "1", "--idle-exit", "3", "--work-dir", Path.Combine(_cli.Folder, "pilot"));
        (exit, output) = await _cli.ShoppeAsync("workflow", "watch", id, "--url", url, "--token", token);
        Assert.True(exit == 0, output);
        Assert.Contains($"Workflow {id} succeeded.", output, StringComparison.Ordinal);
        var (pilotExit, pilotOutput) = await pilot;
        Assert.True(pilotExit == 0, pilotOutput);
        Assert.Contains("3 jobs run, 3 succeeded", pilotOutput, StringComparison.Ordinal);
        Assert.Equal(["one", "two"], (await File.ReadAllLinesAsync(marker, Ct)).Order());

        (exit, output) = await _cli.ShoppeAsync("workflow", "status", id, "--url", url, "--token", token);
        Assert.True(exit == 0, output);
        Assert.Contains("Critical path: each → done", output, StringComparison.Ordinal);
        Assert.Contains("inputs: 2 arrived, 2 processed, 0 failed, input closed", output, StringComparison.Ordinal);

        // Another user's workflow is not found; a retry of a workflow with nothing failed is refused.
        (exit, output) = await _cli.ShoppeAsync("workflow", "abort", id, "--url", url, "--token", _service.Token("bob"));
        Assert.Equal(2, exit);
        Assert.Contains("(404)", output, StringComparison.Ordinal);
        (exit, output) = await _cli.ShoppeAsync("workflow", "retry", id, "--url", url, "--token", token);
        Assert.Equal(2, exit);
        Assert.Contains("(409)", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Submit_BadDocument_SaysWhereAndExits2()
    {
        var document = Path.Combine(_cli.Folder, "bad.json");
        await File.WriteAllTextAsync(document, """{ "works": [ { "name": "w", "action": "noop", "after": ["nope"] } ] }""", Ct);
        var (exit, output) = await _cli.ShoppeAsync("workflow", "submit", document, "--url", _service.CreateClient().BaseAddress!.AbsoluteUri, "--token", _service.Token("alice"));
        Assert.Equal(2, exit);
        Assert.Contains("/works/0/after/0", output, StringComparison.Ordinal);
    }
}
