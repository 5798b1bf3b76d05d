using Microsoft.Extensions.Options;

namespace Shoppe.Cache.Blocks;

/// <summary>Makes block maps durable every <see cref="CacheOptions.FlushInterval"/> and checks the watermarks.</summary>
internal sealed partial class CacheMaintenance(BlockCache cache, IOptions<CacheOptions> options, ILogger<CacheMaintenance> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.FlushInterval);
        var lastEviction = TimeProvider.System.GetTimestamp();
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    cache.Flush();
                    if (TimeProvider.System.GetElapsedTime(lastEviction) >= options.Value.EvictionInterval)
                    {
                        lastEviction = TimeProvider.System.GetTimestamp();
                        cache.EvictIfNeeded();
                    }
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    LogFailed(logger, ex);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    [LoggerMessage(EventId = 20, Level = LogLevel.Error, Message = "Cache maintenance failed; it runs again at the next interval")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}
