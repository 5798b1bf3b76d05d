using Microsoft.Extensions.Options;

namespace Shoppe.Workflow.Scheduling;

/// <summary>
/// Every instance's periodic step: expired leases go back to the ready set, and the data carousel looks at every
/// running workflow's collections. Both are safe to run in several instances at once (each change holds its
/// workflow's lock).
/// </summary>
internal sealed partial class Housekeeping(Engine engine, IOptions<WorkflowOptions> options, ILogger<Housekeeping> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.SweepInterval);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await engine.ExpireLeasesAsync(stoppingToken);
                foreach (var key in await engine.RunningWithCollectionsAsync(stoppingToken))
                {
                    await engine.CarouselAsync(await engine.LoadAsync(key, stoppingToken), stoppingToken);
                }
            }
            catch (Exception ex) when (ex is System.Data.Common.DbException or InvalidOperationException or IOException)
            {
                LogStepFailed(logger, ex);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Housekeeping (lease expiry, collections) failed this round; trying again")]
    private static partial void LogStepFailed(ILogger logger, Exception exception);
}
