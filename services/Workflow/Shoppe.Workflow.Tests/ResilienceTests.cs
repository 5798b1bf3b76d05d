using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Shoppe.Security;
using Shoppe.Testing.Hosting;
using Shoppe.Workflow.Pilots;

namespace Shoppe.Workflow.Tests;

/// <summary>
/// Pilots and scheduler instances killed with SIGKILL mid-run: the jobs they held are leased again and the
/// workflow ends as if nothing happened; four instances on one real PostgreSQL run one workflow without deadlock.
/// Services and pilots run as real processes (the dlls the project references).
/// </summary>
public sealed class ResilienceTests(PostgresServer postgres) : IClassFixture<PostgresServer>, IAsyncLifetime
{
    private readonly string _root = Directory.CreateTempSubdirectory("shoppe-workflow-").FullName;
    private readonly ServiceProcesses _processes = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        _processes.Dispose();
        await TestFolders.DeleteAsync(_root);
    }

    private string KeyFile => Path.Combine(_root, "signing.key");

    private string Token(string user, params string[] roles) =>
        new TokenIssuer(new ShoppeSecurityOptions { SigningKeyFile = KeyFile }, TimeProvider.System).Issue(user, roles, TimeSpan.FromHours(1));

    /// <summary>A workflow service process on a free loopback port.</summary>
    private Task<(Process Process, Uri Url)> StartServiceAsync(string name, Dictionary<string, string> settings) =>
        _processes.StartServiceAsync("Shoppe.Workflow.dll", new Dictionary<string, string>(settings)
        {
            ["Shoppe__DataRoot"] = Path.Combine(_root, name),
            ["Shoppe__Security__SigningKeyFile"] = KeyFile,
            ["Workflow__Lease"] = "00:00:03",
            ["Workflow__SweepInterval"] = "00:00:00.250",
        }, Ct);

    /// <summary>A pilot process (<c>shoppe pilot</c>).</summary>
    private Process StartPilot(Uri server, string name) => _processes.StartPilot([server], Token("facility", "pilot"), Path.Combine(_root, name));

    private HttpClient Client(Uri url)
    {
        var client = new HttpClient { BaseAddress = url };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token("alice"));
        return client;
    }

    [Fact]
    public async Task Pilot_KilledMidJob_TheJobIsLeasedAgainAndSucceedsOnce()
    {
        var (_, url) = await StartServiceAsync("service", []);
        using var alice = Client(url);
        var id = await WorkflowServiceFactory.SubmitOkAsync(alice, """
            { "works": [ { "name": "slow", "action": "command", "command": { "argv": ["sh", "-c", "sleep 3; printf 'ok=%s\\ntoken=%s\\n' $SHOPPE_JOB_ATTEMPT $${SHOPPE_TOKEN:-none} > $SHOPPE_OUTPUTS"] } } ] }
            """);
        var first = StartPilot(url, "pilot-a");
        await Poll.UntilAsync(async () => WorkflowServiceFactory.Count(JsonNode.Parse(await alice.GetStringAsync($"/v1/workflows/{id}", Ct))!, "slow", "running") == 1,
            TimeSpan.FromSeconds(60), "the job to run on the first pilot", Ct);
        first.Kill(); // SIGKILL: no goodbye, no report.

        StartPilot(url, "pilot-b");
        var status = await WorkflowServiceFactory.WaitAsync(alice, id, TimeSpan.FromSeconds(90));
        Assert.Equal("succeeded", status["state"]!.GetValue<string>());
        var job = JsonNode.Parse(await alice.GetStringAsync($"/v1/workflows/{id}/jobs", Ct))!["jobs"]![0]!;
        Assert.Equal("succeeded", job["state"]!.GetValue<string>());
        Assert.Equal(2, job["attempts"]!.GetValue<int>());
        // The pilot's own token (in its environment) is not handed to the jobs it runs.
        Assert.Equal("none", job["outputs"]!["token"]!.GetValue<string>());
    }

    [Fact]
    public async Task Service_KilledMidRun_ARestartOnTheSameDataCarriesOn()
    {
        var (service, url) = await StartServiceAsync("service", []);
        using var alice = Client(url);
        var jobs = string.Join(",", Enumerable.Range(0, 30).Select(i => $$"""{ "name": "j{{i}}", "work": "w"{{(i == 0 ? "" : $", \"after\": [\"j{i - 1}\"]")}} }"""));
        var id = await WorkflowServiceFactory.SubmitOkAsync(alice, $$"""
            { "works": [ { "name": "w", "action": "command", "command": { "argv": ["sh", "-c", "sleep 0.1"] } } ], "jobs": [{{jobs}}] }
            """);
        var pilot = StartPilot(url, "pilot-a");
        await Poll.UntilAsync(async () => WorkflowServiceFactory.Count(JsonNode.Parse(await alice.GetStringAsync($"/v1/workflows/{id}", Ct))!, "w", "succeeded") >= 5,
            TimeSpan.FromSeconds(60), "a few jobs to succeed", Ct);
        service.Kill(); // SIGKILL of the only instance, mid-run.
        pilot.Kill();

        var (_, again) = await StartServiceAsync("service", []);
        using var aliceAgain = Client(again);
        StartPilot(again, "pilot-b");
        var status = await WorkflowServiceFactory.WaitAsync(aliceAgain, id, TimeSpan.FromSeconds(120));
        Assert.Equal("succeeded", status["state"]!.GetValue<string>());
        Assert.Equal(30, WorkflowServiceFactory.Count(status, "w", "succeeded"));
    }

    [Fact]
    public async Task FourInstancesOnPostgres_OneKilled_TheWorkflowCompletesWithoutDeadlockOrDoubleSuccess()
    {
        if (postgres.Unavailable is { } why)
        {
            Assert.Skip(why);
        }

        var database = await postgres.CreateDatabaseAsync();
        var settings = new Dictionary<string, string> { ["Workflow__Store"] = "postgres", ["ConnectionStrings__workflow"] = database };
        var instances = new List<(Process Process, Uri Url)>();
        for (var i = 0; i < 4; i++)
        {
            instances.Add(await StartServiceAsync($"instance-{i}", settings));
        }

        // A layered DAG of 4000 no-op jobs (fan-in 2) and 40 short commands at its end.
        var jobs = new List<string>();
        const int width = 200;
        for (var i = 0; i < 4000; i++)
        {
            var layer = i / width;
            var after = layer == 0 ? "" : $", \"after\": [\"j{(layer - 1) * width + (i * 7 % width)}\", \"j{(layer - 1) * width + (i * 13 % width)}\"]";
            jobs.Add($$"""{ "name": "j{{i}}", "work": "noop"{{after}} }""");
        }

        for (var i = 0; i < 40; i++)
        {
            jobs.Add($$"""{ "name": "c{{i}}", "work": "cmd", "after": ["j{{3999 - i}}"] }""");
        }

        var document = $$"""{ "works": [ { "name": "noop", "action": "noop" }, { "name": "cmd", "action": "command", "command": { "argv": ["sh", "-c", "sleep 0.2"] } } ], "jobs": [{{string.Join(",", jobs)}}] }""";
        using var alice = Client(instances[0].Url);
        var id = await WorkflowServiceFactory.SubmitOkAsync(alice, document);

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var pilots = instances.Select((instance, i) => RunPilotAsync(instance.Url, $"inproc-{i}", stop.Token)).ToList();
        await Poll.UntilAsync(async () => WorkflowServiceFactory.Count(JsonNode.Parse(await alice.GetStringAsync($"/v1/workflows/{id}", Ct))!, "noop", "succeeded") > 1000,
            TimeSpan.FromSeconds(120), "a quarter of the jobs to succeed", Ct);
        instances[1].Process.Kill(); // SIGKILL of a scheduler instance mid-run: its pilot's leases expire.

        var status = await WorkflowServiceFactory.WaitAsync(alice, id, TimeSpan.FromSeconds(180));
        await stop.CancelAsync();
        await Task.WhenAll(pilots);
        Assert.Equal("succeeded", status["state"]!.GetValue<string>());
        Assert.Equal(4040, status["jobs"]!["succeeded"]!.GetValue<long>());
        Assert.Equal(4040, status["jobs"]!["total"]!.GetValue<long>());
        // Any instance answers the same.
        using var other = Client(instances[3].Url);
        Assert.Equal("succeeded", JsonNode.Parse(await other.GetStringAsync($"/v1/workflows/{id}", Ct))!["state"]!.GetValue<string>());
    }

    private Task RunPilotAsync(Uri url, string name, CancellationToken cancellationToken) => Task.Run(async () =>
    {
        using var runner = new PilotRunner(new PilotOptions { Server = url, Token = Token("facility", "pilot"), WorkDirectory = Path.Combine(_root, name), Cores = 2, LongPoll = TimeSpan.FromSeconds(1) });
        try
        {
            await runner.RunAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // Stopped by the test.
        }
    }, CancellationToken.None);
}
