using System.Globalization;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Options;
using Shoppe.Security;
using Shoppe.Workflow.Scheduling;
using Shoppe.Workflow.State;

namespace Shoppe.Workflow.Slurm;

/// <summary>
/// Pilots as Slurm jobs (PanDA's way): while jobs wait for a pilot, pilot jobs are submitted through slurmrestd, up
/// to <c>Workflow:Slurm:MaxPilots</c> queued or running; each pulls jobs until idle, then leaves and gives its slot
/// back. A heavy job (<c>batch: true</c>, or GPUs) gets a batch job of its own, sized as it asks (<c>--cpus-per-task</c>,
/// <c>--mem</c>, <c>--gres=gpu:N</c>), that runs only it (<c>shoppe pilot --only</c>). A batch job Slurm refuses, or one
/// that ends without having run its job, fails that job with Slurm's reason. Every instance may run this: a heavy
/// job is claimed for submission by one row insert, so it is submitted once.
/// </summary>
internal sealed partial class SlurmPilots(Engine engine, IOptions<WorkflowOptions> options, ShoppeSecurityOptions security, TimeProvider time,
    IHttpClientFactory http, IServer server, IHostApplicationLifetime lifetime, ILogger<SlurmPilots> logger) : BackgroundService
{
    /// <summary>The name prefix of the pilot jobs this facility submits.</summary>
    public const string PilotJobName = "shoppe-pilot";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        if (settings.Slurm.RestUrl is not { } rest)
        {
            return;
        }

        if (settings.Slurm.User is not { Length: > 0 } user)
        {
            LogNoUser(logger);
            return;
        }

        var started = new TaskCompletionSource();
        using var registration = lifetime.ApplicationStarted.Register(started.SetResult);
        await started.Task.WaitAsync(stoppingToken);
        var client = new SlurmRestClient(http.CreateClient("slurm"), rest, user, SlurmTokens.Refreshing(settings.Slurm.Conf, user, TimeSpan.FromHours(1), time));
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await SubmitHeavyJobsAsync(client, stoppingToken);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                LogRoundFailed(logger, ex);
            }

            try
            {
                await SubmitPilotsAsync(client, stoppingToken);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                LogRoundFailed(logger, ex);
            }

            await Task.WhenAny(engine.JobsReady, Task.Delay(TimeSpan.FromSeconds(2), stoppingToken));
            await Task.Delay(200, stoppingToken); // Let a burst of releases settle into one round.
        }
    }

    /// <summary>Submits pilot jobs while ready jobs wait and fewer than the most are queued or running.</summary>
    private async Task SubmitPilotsAsync(SlurmRestClient client, CancellationToken cancellationToken)
    {
        var slurm = options.Value.Slurm;
        var waiting = (await engine.PilotDemandAsync(cancellationToken)).ReadyJobs;
        if (waiting == 0)
        {
            return;
        }

        var live = (await client.ListJobsAsync(cancellationToken)).Count(j => j.Name.StartsWith(PilotJobName, StringComparison.Ordinal) && !j.IsEnded);
        var wanted = (int)Math.Min(slurm.MaxPilots - live, 1 + (waiting / 1000));
        for (var i = 0; i < wanted; i++)
        {
            var id = await client.SubmitAsync(Request($"{PilotJobName}-{Guid.NewGuid():N}"[..24], slurm.PilotCores, null, 0, slurm.PilotTimeLimitMinutes,
                ["--cores", slurm.PilotCores.ToString(CultureInfo.InvariantCulture), "--idle-exit", slurm.PilotIdleExitSeconds.ToString(CultureInfo.InvariantCulture)]), cancellationToken);
            LogPilotSubmitted(logger, id, waiting);
        }
    }

    /// <summary>A batch job per ready heavy job not yet given one.</summary>
    private async Task SubmitHeavyJobsAsync(SlurmRestClient client, CancellationToken cancellationToken)
    {
        var heavy = await engine.Store.ReadAsync(async connection =>
        {
            await using var command = WorkflowStore.Command(connection, null, $"""
                SELECT j.wf, j.idx, j.work_idx FROM jobs j WHERE j.state = {JobStates.Ready} AND j.runner = {Runners.Batch}
                AND NOT EXISTS (SELECT 1 FROM batch_jobs b WHERE b.wf = j.wf AND b.idx = j.idx AND b.attempt = j.attempts) LIMIT 100
                """);
            return await Engine.QueryAsync(command, r => (Key: r.GetInt64(0), Index: r.GetInt64(1), Work: r.GetInt32(2)), cancellationToken);
        }, cancellationToken);
        foreach (var (key, index, work) in heavy)
        {
            var workflow = await engine.LoadAsync(key, cancellationToken);
            var jobId = Engine.JobId(workflow.Id, index);
            if (!await engine.TakeForBatchAsync(key, index, cancellationToken))
            {
                continue; // Another instance submits it.
            }

            var command = workflow.Plan.Works[work].Spec.Command!;
            try
            {
                var slurmId = await client.SubmitAsync(Request($"shoppe-job-{jobId}", command.Cores ?? 1, command.MemoryMb, command.Gpus ?? 0,
                    command.TimeoutSeconds is { } s ? (int)Math.Ceiling(s / 60) + 5 : options.Value.Slurm.PilotTimeLimitMinutes, ["--cores", (command.Cores ?? 1).ToString(CultureInfo.InvariantCulture), "--only", jobId]), cancellationToken);
                await engine.RecordBatchAsync(key, index, slurmId, cancellationToken);
                using (engine.WorkflowScope(workflow))
                {
                    LogHeavySubmitted(logger, jobId, slurmId, command.Cores ?? 1, command.Gpus ?? 0);
                }
            }
            catch (SlurmException ex)
            {
                await engine.FailJobAsync(workflow, index, $"Slurm refused its batch job: {ex.Message}", cancellationToken);
            }
        }

        // A batch job that ended without taking its job: the job fails with Slurm's reason.
        foreach (var (key, index, slurmId) in await engine.SubmittedBatchesAsync(cancellationToken))
        {
            string? ended;
            try
            {
                var job = await client.GetJobAsync(slurmId, cancellationToken);
                ended = job.IsEnded ? $"ended {job.State} ({job.StateReason ?? "no reason given"})" : null;
            }
            catch (SlurmException ex)
            {
                ended = $"is unknown to Slurm ({ex.Message})"; // Purged after MinJobAge: it ended long ago.
            }

            if (ended is not null)
            {
                var workflow = await engine.LoadAsync(key, cancellationToken);
                await engine.FailJobAsync(workflow, index, $"its Slurm job {slurmId} {ended} without running it", cancellationToken);
            }
        }
    }

    private SlurmJobRequest Request(string name, int cores, int? memoryMb, int gpus, int minutes, string[] pilotArguments)
    {
        var settings = options.Value;
        var command = settings.PilotCommand ?? throw new InvalidOperationException("Workflow:Slurm is set but Workflow:PilotCommand is not: Slurm jobs would not know how to start a pilot.");
        var serverUrl = settings.PilotServerUrl?.ToString()
            ?? server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
            ?? throw new InvalidOperationException("The workflow service has no address for its pilots: set Workflow:PilotServerUrl.");
        var folder = Directory.CreateDirectory(settings.Slurm.WorkDirectory ?? Path.Combine(Path.GetTempPath(), "shoppe-slurm-pilots")).FullName;
        var start = command.EndsWith(".dll", StringComparison.Ordinal) ? $"dotnet {Quote(command)}" : Quote(command);
        var arguments = string.Join(' ', new[] { "pilot", "--server", serverUrl, "--work-dir", folder }.Concat(pilotArguments).Select(Quote));
        var token = new TokenIssuer(security, time).Issue("slurm-pilot", [ShoppeClaims.PilotRole], TimeSpan.FromMinutes(settings.Slurm.PilotTimeLimitMinutes + 60));
        return new SlurmJobRequest
        {
            Name = name,
            Script = $"#!/bin/sh\nexec {start} {arguments}\n",
            WorkingDirectory = folder,
            Environment = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["PATH"] = Environment.GetEnvironmentVariable("PATH") ?? SlurmJobRequest.DefaultPath,
                ["HOME"] = Environment.GetEnvironmentVariable("HOME") ?? folder,
                ["SHOPPE_TOKEN"] = token,
                ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
            },
            CpusPerTask = cores,
            MemoryPerNodeMb = memoryMb,
            Gpus = gpus,
            TimeLimitMinutes = minutes,
            StandardOutput = Path.Combine(folder, "%j.out"),
            StandardError = Path.Combine(folder, "%j.err"),
        };
    }

    private static string Quote(string text) => "'" + text.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    [LoggerMessage(Level = LogLevel.Information, Message = "Slurm pilot job {SlurmJob} submitted ({Waiting} jobs waiting for a pilot)")]
    private static partial void LogPilotSubmitted(ILogger logger, long slurmJob, long waiting);

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId} runs as Slurm job {SlurmJob} of its own ({Cores} cores, {Gpus} GPUs)")]
    private static partial void LogHeavySubmitted(ILogger logger, string jobId, long slurmJob, int cores, int gpus);

    [LoggerMessage(Level = LogLevel.Error, Message = "Workflow:Slurm:RestUrl is set but Workflow:Slurm:User is not: no pilot job is submitted (name the account every job of the pilots runs as)")]
    private static partial void LogNoUser(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The Slurm round failed; trying again")]
    private static partial void LogRoundFailed(ILogger logger, Exception exception);
}
