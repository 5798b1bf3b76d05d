using System.Net;
using System.Text.Json.Nodes;

namespace Shoppe.Workflow.Tests;

/// <summary><c>GET /v1/pilots/demand</c>: the jobs pilots run, ready and running, which a site's autoscaler sizes its pilots by.</summary>
public sealed class PilotDemandTests : IAsyncLifetime
{
    private readonly string _root = Directory.CreateTempSubdirectory("shoppe-demand-").FullName;
    private WorkflowServiceFactory _service = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public ValueTask InitializeAsync()
    {
        _service = new WorkflowServiceFactory(Path.Combine(_root, "service"));
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await _service.DisposeAsync();
        await TestFolders.DeleteAsync(_root);
    }

    [Fact]
    public async Task Demand_CountsEveryUsersPilotJobs_ReadyAndRunning_ToPilotTokensOnly()
    {
        using var alice = _service.ClientFor("alice");
        using var bob = _service.ClientFor("bob");
        using var pilotClient = _service.ClientFor("facility", "pilot");
        using var anonymous = _service.CreateClient();
        // Each job runs until the flag exists; c waits for a.
        var flag = Path.Combine(_root, "flag");
        var document = $$"""
            { "works": [ { "name": "w", "action": "command", "command": { "argv": ["sh", "-c", "while [ ! -f {{flag}} ]; do sleep 0.05; done"] } } ],
              "jobs": [ { "name": "a", "work": "w" }, { "name": "b", "work": "w" }, { "name": "c", "work": "w", "after": ["a"] } ] }
            """;
        var first = await WorkflowServiceFactory.SubmitOkAsync(alice, document);
        var second = await WorkflowServiceFactory.SubmitOkAsync(bob, document);

        // a and b of each are ready, c waits; no pilot runs yet.
        Assert.Equal((4, 0, 4), Counts(await DemandAsync(pilotClient)));

        using (var user = await alice.GetAsync(new Uri("/v1/pilots/demand", UriKind.Relative), Ct))
        {
            Assert.Equal(HttpStatusCode.Forbidden, user.StatusCode);
            Assert.Equal("application/problem+json", user.Content.Headers.ContentType?.MediaType);
        }

        using (var none = await anonymous.GetAsync(new Uri("/v1/pilots/demand", UriKind.Relative), Ct))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
        }

        // A pilot of two cores takes two: they count as running, and still as the pilots' jobs.
        using var stop = new CancellationTokenSource();
        var pilot = _service.RunPilotAsync(Path.Combine(_root, "pilot"), stop.Token);
        var running = await Poll.ForAsync(async () => Counts(await DemandAsync(pilotClient)), c => c.Running == 2, TimeSpan.FromSeconds(30), "two jobs running", Ct);
        Assert.Equal((2, 2, 4), running);

        await File.WriteAllTextAsync(flag, "", Ct);
        Assert.Equal("succeeded", (await WorkflowServiceFactory.WaitAsync(alice, first))["state"]!.GetValue<string>());
        Assert.Equal("succeeded", (await WorkflowServiceFactory.WaitAsync(bob, second))["state"]!.GetValue<string>());
        await stop.CancelAsync();
        await pilot;
        Assert.Equal((0, 0, 0), Counts(await DemandAsync(pilotClient)));
    }

    private static (long Ready, long Running, long PilotJobs) Counts(JsonNode demand) =>
        (demand["readyJobs"]!.GetValue<long>(), demand["runningJobs"]!.GetValue<long>(), demand["pilotJobs"]!.GetValue<long>());

    private static async Task<JsonNode> DemandAsync(HttpClient client)
    {
        using var response = await client.GetAsync(new Uri("/v1/pilots/demand", UriKind.Relative), Ct);
        var body = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.IsSuccessStatusCode, body);
        return JsonNode.Parse(body)!;
    }
}
