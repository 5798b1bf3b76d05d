using System.Net;
using Shoppe.Workflow.Slurm;

namespace Shoppe.Workflow.Tests.Slurm;

/// <summary>The slurmrestd client against a real one-node Slurm (eng/slurm-cluster.sh), jobs run as root.</summary>
public sealed class SlurmRestClientTests(SlurmCluster slurm) : IClassFixture<SlurmCluster>, IDisposable
{
    // A trivial job ends within about a second (Slurm schedules once a second); the margin is for a loaded machine.
    private static readonly TimeSpan JobTimeout = TimeSpan.FromSeconds(20);

    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(30) };

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _http.Dispose();

    private SlurmRestClient Client(Func<CancellationToken, ValueTask<string>>? tokens = null)
    {
        slurm.RequireAvailable();
        return new SlurmRestClient(_http, new Uri(slurm.RestUrl), slurm.UserName,
            tokens ?? SlurmTokens.Refreshing(slurm.SlurmConf, slurm.UserName, TimeSpan.FromMinutes(10)));
    }

    private static Task<SlurmJob> WaitAsync(SlurmRestClient client, long id, Func<SlurmJob, bool> until, string what) =>
        Poll.ForAsync(() => client.GetJobAsync(id, Ct), until, JobTimeout, $"job {id} {what}", Ct);

    private SlurmJobRequest Job(string script, string? name = null)
    {
        var folder = slurm.CreateJobFolder();
        return new SlurmJobRequest
        {
            Name = name ?? "test-" + Guid.NewGuid().ToString("N")[..8],
            Script = "#!/bin/sh\n" + script + "\n",
            WorkingDirectory = folder,
            StandardOutput = Path.Combine(folder, "out.txt"),
        };
    }

    [Fact]
    public async Task Ping_Controller_IsUp()
    {
        var ping = await Client().PingAsync(Ct);

        Assert.True(ping.IsUp);
        Assert.Equal("primary", ping.Mode);
    }

    [Fact]
    public async Task Submit_ScriptThatWritesAFile_CompletesWithTheFileAndExitCodeZero()
    {
        var client = Client();
        var request = Job("echo \"$GREETING from $SLURM_JOB_ID\" > result.txt") with
        {
            Environment = new Dictionary<string, string> { ["GREETING"] = "hello" },
            CpusPerTask = 1,
            MemoryPerNodeMb = 100,
            TimeLimitMinutes = 2,
        };

        var id = await client.SubmitAsync(request, Ct);
        var job = await WaitAsync(client, id, j => j.IsEnded, "to end");

        Assert.Equal(SlurmJobStates.Completed, job.State);
        Assert.Equal((0, 0), (job.ExitCode, job.Signal));
        Assert.Equal($"hello from {id}\n", await File.ReadAllTextAsync(Path.Combine(request.WorkingDirectory, "result.txt"), Ct));
        Assert.Equal((request.Name, "root", request.WorkingDirectory, request.StandardOutput), (job.Name, job.UserName, job.WorkingDirectory, job.StandardOutput));
        Assert.Equal((1, 100L, 2), (job.Cpus, job.MemoryPerNodeMb, job.TimeLimitMinutes));
        Assert.Null(job.TresPerNode);
        var listed = Assert.Single(await client.ListJobsAsync(Ct), j => j.Id == id);
        Assert.Equal((request.Name, SlurmJobStates.Completed), (listed.Name, listed.State));
    }

    [Fact]
    public async Task Submit_FailingScript_ReportsFailedWithItsExitCode()
    {
        var client = Client();

        var id = await client.SubmitAsync(Job("echo failing; exit 3"), Ct);
        var job = await WaitAsync(client, id, j => j.IsEnded, "to end");

        Assert.Equal(SlurmJobStates.Failed, job.State);
        Assert.Equal((3, 0), (job.ExitCode, job.Signal));
        Assert.Equal("NonZeroExitCode", job.StateReason);
    }

    [Fact]
    public async Task Cancel_SleepingJob_EndsCancelledBySigterm()
    {
        var client = Client();
        var request = Job("touch started; sleep 300");
        var id = await client.SubmitAsync(request, Ct);
        // Running in slurmctld's eyes comes before the script does: a job cancelled in between ends with exit code 1.
        await Poll.UntilAsync(() => File.Exists(Path.Combine(request.WorkingDirectory, "started")), JobTimeout, $"job {id}'s script to start", Ct);

        await client.CancelAsync(id, Ct);
        var job = await WaitAsync(client, id, j => j.IsEnded, "to end");

        Assert.Equal(SlurmJobStates.Cancelled, job.State);
        // SIGTERM first (SIGKILL only after KillWait): Slurm records it as the signal, or, when the script's shell
        // caught it and exited, as the shell's exit code 128 + 15. Both were seen here, depending on timing.
        Assert.Contains((job.ExitCode, job.Signal), new[] { (0, 15), (128 + 15, 0) });
        await client.CancelAsync(id, Ct); // an ended job: nothing to do, no error
    }

    [Fact]
    public async Task Submit_GpusOnANodeWithoutGpus_IsRefusedAndRecordedAsFailedWithItsGres()
    {
        var client = Client();
        var request = Job("nvidia-smi") with { Gpus = 2 };

        // Slurm refuses at submission a job no node of the partition could ever run (the node has GresTypes=gpu but
        // no GPUs); it does not leave it pending.
        var refused = await Assert.ThrowsAsync<SlurmException>(() => client.SubmitAsync(request, Ct));

        Assert.Equal((HttpStatusCode.InternalServerError, 2014), (refused.StatusCode, refused.ErrorNumber));
        Assert.Contains("Requested node configuration is not available", refused.Message, StringComparison.Ordinal);
        // The refused job is still recorded, ended, with what it asked for.
        var job = Assert.Single(await client.ListJobsAsync(Ct), j => j.Name == request.Name);
        Assert.Equal((SlurmJobStates.Failed, "BadConstraints", "gres:gpu:2"), (job.State, job.StateReason, job.TresPerNode));
    }

    [Fact]
    public async Task AnyCall_TokenWithABadSignature_ThrowsSlurmException()
    {
        var token = await slurm.MintTokenAsync(cancellationToken: Ct);
        var forged = token[..^2] + (token[^2] == 'A' ? "BB" : "AA");
        var client = Client(_ => ValueTask.FromResult(forged));

        var refused = await Assert.ThrowsAsync<SlurmException>(() => client.PingAsync(Ct));

        // slurmrestd passes the token on unread; slurmctld's refusal comes back as a 500 with Slurm's "Unspecified
        // error" (a 401 is only for a request without a user name and token).
        Assert.Equal((HttpStatusCode.InternalServerError, -1), (refused.StatusCode, refused.ErrorNumber));
        Assert.Contains("token it cannot verify", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetJob_UnknownId_ThrowsWithSlurmsInvalidJobId()
    {
        var refused = await Assert.ThrowsAsync<SlurmException>(() => Client().GetJobAsync(99_999_999, Ct));

        Assert.Equal(2017, refused.ErrorNumber);
        Assert.Contains("Invalid job id specified", refused.Message, StringComparison.Ordinal);
    }
}
