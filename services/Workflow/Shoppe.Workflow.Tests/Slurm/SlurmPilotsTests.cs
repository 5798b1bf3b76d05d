using System.Text.Json.Nodes;
using Shoppe.Workflow.Slurm;

namespace Shoppe.Workflow.Tests.Slurm;

/// <summary>
/// Pilots as jobs of a real one-node Slurm (eng/slurm-cluster.sh): jobs waiting bring pilot jobs; a heavy job runs as
/// a Slurm job of its own; a GPU request is Slurm's <c>gres gpu:N</c>, refused by a node without GPUs.
/// </summary>
public sealed class SlurmPilotsTests(SlurmCluster slurm) : IClassFixture<SlurmCluster>, IAsyncLifetime
{
    private readonly string _root = Directory.CreateTempSubdirectory("shoppe-workflow-slurm-").FullName;
    private WorkflowServiceFactory? _service;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        if (_service is not null)
        {
            await _service.DisposeAsync();
        }

        await TestFolders.DeleteAsync(_root);
    }

    private HttpClient Start()
    {
        slurm.RequireAvailable();
        var port = Loopback.FreePort();
        _service = new WorkflowServiceFactory(Path.Combine(_root, "service"), new Dictionary<string, string?>
        {
            ["Workflow:Slurm:RestUrl"] = slurm.RestUrl,
            ["Workflow:Slurm:User"] = slurm.UserName,
            ["Workflow:Slurm:Conf"] = slurm.SlurmConf,
            ["Workflow:Slurm:MaxPilots"] = "2",
            ["Workflow:Slurm:PilotIdleExitSeconds"] = "3",
            ["Workflow:Slurm:WorkDirectory"] = Path.Combine(_root, "slurm"),
            ["Workflow:PilotCommand"] = Path.Combine(AppContext.BaseDirectory, "shoppe.dll"),
            ["Workflow:PilotServerUrl"] = $"http://127.0.0.1:{port}",
        }, port);
        _service.StartServer();
        return _service.ClientFor("alice");
    }

    private static async Task<JsonNode> JobsAsync(HttpClient client, string id) =>
        JsonNode.Parse(await client.GetStringAsync($"/v1/workflows/{id}/jobs", Ct))!["jobs"]!;

    [Fact]
    public async Task WaitingJobs_BringPilotJobs_ThatRunThemInsideSlurm()
    {
        using var alice = Start();
        var id = await WorkflowServiceFactory.SubmitOkAsync(alice, """
            {
              "works": [ { "name": "w", "action": "command", "command": { "argv": ["sh", "-c", "echo slurm=$SLURM_JOB_ID > $SHOPPE_OUTPUTS"] } } ],
              "jobs": [ { "work": "w" }, { "work": "w" }, { "work": "w" }, { "work": "w" } ]
            }
            """);
        var status = await WorkflowServiceFactory.WaitAsync(alice, id, TimeSpan.FromSeconds(240));

        Assert.Equal("succeeded", status["state"]!.GetValue<string>());
        foreach (var job in (await JobsAsync(alice, id)).AsArray())
        {
            Assert.Matches("^[0-9]+$", job!["outputs"]!["slurm"]!.GetValue<string>());
        }
    }

    [Fact]
    public async Task HeavyJob_RunsAsItsOwnSlurmJob_GpuRequestsAreSlurmGres()
    {
        using var alice = Start();
        var id = await WorkflowServiceFactory.SubmitOkAsync(alice, """
            {
              "works": [
                { "name": "heavy", "action": "command", "attempts": 1,
                  "command": { "argv": ["sh", "-c", "printf 'cpus=%s\\njob=%s\\n' $SLURM_CPUS_ON_NODE $SLURM_JOB_NAME > $SHOPPE_OUTPUTS"], "batch": true, "cores": 2, "memoryMb": 300 } },
                { "name": "gpu", "action": "command", "attempts": 1, "command": { "argv": ["true"], "gpus": 1 } }
              ]
            }
            """);
        var status = await WorkflowServiceFactory.WaitAsync(alice, id, TimeSpan.FromSeconds(240));

        var jobs = (await JobsAsync(alice, id)).AsArray();
        var heavy = jobs.First(j => j!["work"]!.GetValue<string>() == "heavy")!;
        Assert.Equal("succeeded", heavy["state"]!.GetValue<string>());
        Assert.Equal("2", heavy["outputs"]!["cpus"]!.GetValue<string>());
        Assert.Equal($"shoppe-job-{heavy["id"]}", heavy["outputs"]!["job"]!.GetValue<string>());
        // This node has no GPU: Slurm refuses gres gpu:1, and the job fails saying so.
        var gpu = jobs.First(j => j!["work"]!.GetValue<string>() == "gpu")!;
        Assert.Equal("failed", gpu["state"]!.GetValue<string>());
        Assert.Contains("Slurm refused", gpu["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal("failed", status["state"]!.GetValue<string>());
        Assert.Equal(SlurmPilots.PilotJobName, "shoppe-pilot");
    }
}
