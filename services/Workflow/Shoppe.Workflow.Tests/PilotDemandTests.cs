using System.Net;
using System.Text.Json.Nodes;

namespace Shoppe.Workflow.Tests;

/// <summary><c>GET /v1/pilots/demand</c>: the jobs waiting for a pilot, which a site's autoscaler sizes its pilots by.</summary>
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
    public async Task Demand_CountsEveryUsersReadyJobs_ForPilotsOnly_AndFallsToZeroOnceAPilotRanThem()
    {
        using var alice = _service.ClientFor("alice");
        using var bob = _service.ClientFor("bob");
        using var pilotClient = _service.ClientFor("facility", "pilot");
        using var anonymous = _service.CreateClient();
        const string document = """
            { "works": [ { "name": "w", "action": "command", "command": { "argv": ["true"] } } ],
              "jobs": [ { "name": "a", "work": "w" }, { "name": "b", "work": "w" }, { "name": "c", "work": "w", "after": ["a"] } ] }
            """;
        var first = await WorkflowServiceFactory.SubmitOkAsync(alice, document);
        var second = await WorkflowServiceFactory.SubmitOkAsync(bob, document);

        // a and b of each are ready; c waits for a. No pilot runs yet.
        Assert.Equal(4, (await DemandAsync(pilotClient))["readyJobs"]!.GetValue<long>());

        using (var user = await alice.GetAsync(new Uri("/v1/pilots/demand", UriKind.Relative), Ct))
        {
            Assert.Equal(HttpStatusCode.Forbidden, user.StatusCode);
            Assert.Equal("application/problem+json", user.Content.Headers.ContentType?.MediaType);
        }

        using (var none = await anonymous.GetAsync(new Uri("/v1/pilots/demand", UriKind.Relative), Ct))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
        }

        using var stop = new CancellationTokenSource();
        var pilot = _service.RunPilotAsync(Path.Combine(_root, "pilot"), stop.Token);
        Assert.Equal("succeeded", (await WorkflowServiceFactory.WaitAsync(alice, first))["state"]!.GetValue<string>());
        Assert.Equal("succeeded", (await WorkflowServiceFactory.WaitAsync(bob, second))["state"]!.GetValue<string>());
        await stop.CancelAsync();
        await pilot;
        Assert.Equal(0, (await DemandAsync(pilotClient))["readyJobs"]!.GetValue<long>());
    }

    private static async Task<JsonNode> DemandAsync(HttpClient client)
    {
        using var response = await client.GetAsync(new Uri("/v1/pilots/demand", UriKind.Relative), Ct);
        var body = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.IsSuccessStatusCode, body);
        return JsonNode.Parse(body)!;
    }
}
