using Microsoft.Extensions.Options;

namespace Shoppe.Workflow.Scheduling;

/// <summary>
/// Every instance's periodic step: expired leases go back to the ready set, and the data carousel looks at every
/// running workflow's collections. Both are safe to run in several instances at once (each change holds its
/// workflow's lock).
/// </summary>
internal sealed partial class Housekeeping(Engine engine, IOptions<WorkflowOptions> options, ILogger<Housekeeping> logger) : BackgroundService
{
    /// <summary>How often a running workflow's progress goes to its logs (when it changed).</summary>
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromSeconds(10);

    private readonly Dictionary<long, string> _lastProgress = [];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.SweepInterval);
        var progress = System.Diagnostics.Stopwatch.StartNew();
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await engine.ExpireLeasesAsync(stoppingToken);
                foreach (var key in await engine.RunningWithCollectionsAsync(stoppingToken))
                {
                    try
                    {
                        await engine.CarouselAsync(await engine.LoadAsync(key, stoppingToken), stoppingToken);
                    }
                    catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
                    {
                        LogStepFailed(logger, ex); // One workflow's trouble does not stop the others'.
                    }
                }

                if (progress.Elapsed >= ProgressInterval)
                {
                    progress.Restart();
                    await ReportProgressAsync(stoppingToken);
                }
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                LogStepFailed(logger, ex);
            }
        }
    }

    /// <summary>Long work shows progress: each running workflow's job counts, in its own logs, when they moved.</summary>
    private async Task ReportProgressAsync(CancellationToken cancellationToken)
    {
        var running = await engine.Store.ReadAsync(async connection =>
        {
            await using var command = State.WorkflowStore.Command(connection, null, "SELECT key FROM workflows WHERE state = 'running' ORDER BY key LIMIT 100");
            return await Engine.QueryAsync(command, r => r.GetInt64(0), cancellationToken);
        }, cancellationToken);
        foreach (var key in _lastProgress.Keys.Except(running).ToList())
        {
            _lastProgress.Remove(key);
        }

        foreach (var key in running)
        {
            var workflow = await engine.LoadAsync(key, cancellationToken);
            var status = await Apis.WorkflowStatus.ReadAsync(engine, workflow, cancellationToken);
            var line = string.Join(", ", status.Jobs.Where(j => j.Key != "total").OrderBy(j => System.Array.IndexOf(State.JobStates.Names, j.Key)).Select(j => $"{j.Value} {j.Key}"));
            if (_lastProgress.GetValueOrDefault(key) != line)
            {
                _lastProgress[key] = line;
                var total = status.Jobs.GetValueOrDefault("total");
                using (engine.WorkflowScope(workflow))
                {
                    LogProgress(logger, workflow.Id, total, line);
                }
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Workflow {WorkflowId}: {Total} jobs: {Counts}")]
    private static partial void LogProgress(ILogger logger, string workflowId, long total, string counts);

    [LoggerMessage(Level = LogLevel.Error, Message = "Housekeeping (lease expiry, collections) failed this round; trying again")]
    private static partial void LogStepFailed(ILogger logger, Exception exception);
}
