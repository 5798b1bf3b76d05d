using Microsoft.Extensions.Options;

namespace Shoppe.Logs.Storage;

/// <summary>Keeps the embedded store within its age and size limits.</summary>
internal sealed partial class RetentionService(SqliteLogStore store, IOptions<LogsStoreOptions> options, TimeProvider time, LogsMetrics metrics, ILogger<RetentionService> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.RetentionInterval, time);
        do
        {
            try
            {
                var cutoff = (time.GetUtcNow() - options.Value.MaxAge).ToUnixTimeMilliseconds() * 1_000_000;
                var deleted = await store.EnforceRetentionAsync(cutoff, options.Value.MaxBytes, stoppingToken);
                if (deleted > 0)
                {
                    metrics.Expired(deleted);
                    LogExpired(logger, deleted);
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogFailed(logger, ex);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Retention removed {Count} log records")]
    private static partial void LogExpired(ILogger logger, long count);

    [LoggerMessage(EventId = 2, Level = LogLevel.Error, Message = "Retention failed; it runs again at the next interval")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}
