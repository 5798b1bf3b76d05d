using System.Collections.Concurrent;
using System.Diagnostics;
using System.ComponentModel.DataAnnotations;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Shoppe.ServiceDefaults;
using Shoppe.ServiceDefaults.RequestIds;

namespace Shoppe.Http.AccessLines;

/// <summary>
/// Endpoint metadata: this endpoint's successful requests are counted into one access line per request id and user
/// every <see cref="AccessSummaryOptions.AccessSummaryInterval"/>, instead of a line each. For data endpoints that
/// answer thousands of small reads a second for one user request (the cache's range reads): a line each cost the
/// cache a sixth of its CPU and would flood the user's request logs (docs/performance.md, "Cache"). Failures
/// (status 400 and up) are still logged one by one, at once.
/// </summary>
public sealed class SummarizedAccessLog
{
    /// <summary>The one instance endpoints carry.</summary>
    public static readonly SummarizedAccessLog Instance = new();

    private SummarizedAccessLog()
    {
    }
}

/// <summary>Marks endpoints whose access lines are summarized (<see cref="SummarizedAccessLog"/>).</summary>
public static class SummarizedAccessLogExtensions
{
    /// <summary>Counts this endpoint's successful requests into a periodic summary line per request id.</summary>
    public static TBuilder WithSummarizedAccessLog<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Add(endpoint => endpoint.Metadata.Add(SummarizedAccessLog.Instance));
        return builder;
    }
}

/// <summary>
/// The counts behind summarized access lines, written every interval (and when the service stops) under each
/// request id's and user's logging scope, so the logs service files them with the request they belong to.
/// </summary>
internal sealed partial class AccessSummaries(ILoggerFactory loggerFactory, IOptions<AccessSummaryOptions> options) : BackgroundService, IAccessLineSummarizer
{
    /// <summary>Summaries kept at once; past this, requests are logged one by one until the next write.</summary>
    private const int MaxKeys = 10_000;

    // Not RequestAccessLog's own logger: that one asks for this summarizer (a cycle); the category is the same.
    private readonly ILogger _logger = loggerFactory.CreateLogger(RequestAccessLog.Category);
    private readonly ConcurrentDictionary<Key, Tally> _tallies = new();

    /// <summary>
    /// What one summary line is about. Requests that brought their own id are summed under it; those given a new
    /// id each (no caller id) are summed per user, since no id of theirs would ever be looked up.
    /// </summary>
    private readonly record struct Key(string? RequestId, string? User, string Method, string Endpoint);

    private sealed class Tally
    {
        public long Count;
        public long Bytes;
        public double TotalMs;
        public double MaxMs;
        public long NotModified;
        public long Partial;
        public long Started = Stopwatch.GetTimestamp();
        public bool Written;
    }

    /// <inheritdoc/>
    public bool TryCount(HttpContext context, string requestId, bool fromCaller, string? user, string? endpointName, double elapsedMs)
    {
        // A lane names the endpoint it answered for; a routed request is summarized where its endpoint asks for it.
        if (endpointName is null)
        {
            var endpoint = context.GetEndpoint();
            if (endpoint?.Metadata.GetMetadata<SummarizedAccessLog>() is null)
            {
                return false;
            }

            endpointName = endpoint.Metadata.GetMetadata<IEndpointNameMetadata>()?.EndpointName ?? endpoint.DisplayName ?? "";
        }

        return TryAdd(requestId, fromCaller, user, context.Request.Method, endpointName, context.Response.StatusCode, context.Response.ContentLength ?? 0, elapsedMs);
    }

    /// <summary>Counts one request; false when it must be logged on its own (too many summaries open).</summary>
    public bool TryAdd(string requestId, bool fromCaller, string? user, string method, string endpoint, int status, long bytes, double elapsedMs)
    {
        var key = new Key(fromCaller ? requestId : null, user, method, endpoint);
        while (true)
        {
            if (!_tallies.TryGetValue(key, out var tally))
            {
                if (_tallies.Count >= MaxKeys)
                {
                    return false;
                }

                tally = _tallies.GetOrAdd(key, _ => new Tally());
            }

            lock (tally)
            {
                if (tally.Written)
                {
                    continue; // written out a moment ago: count into the next one
                }

                tally.Count++;
                tally.Bytes += bytes;
                tally.TotalMs += elapsedMs;
                tally.MaxMs = Math.Max(tally.MaxMs, elapsedMs);
                tally.Partial += status == 206 ? 1 : 0;
                tally.NotModified += status == 304 ? 1 : 0;
                return true;
            }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.AccessSummaryInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                Write();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        Write();
    }

    /// <summary>Writes and forgets every open summary.</summary>
    public void Write()
    {
        foreach (var key in _tallies.Keys)
        {
            if (!_tallies.TryRemove(key, out var tally))
            {
                continue;
            }

            lock (tally)
            {
                tally.Written = true;
            }

            using var requestScope = key.RequestId is null ? null : _logger.BeginScope(new AttributeLogScope(ShoppeAttributes.RequestId, key.RequestId));
            using var userScope = key.User is null ? null : _logger.BeginScope(new AttributeLogScope(ShoppeAttributes.EndUser, key.User));
            var seconds = Stopwatch.GetElapsedTime(tally.Started).TotalSeconds;
            LogSummary(_logger, key.Method, key.Endpoint, tally.Count, tally.Partial, tally.NotModified, tally.Bytes, tally.TotalMs / tally.Count, tally.MaxMs,
                seconds, key.RequestId ?? "(a new one each)");
        }
    }

    [LoggerMessage(EventId = 2, Level = LogLevel.Information,
        Message = "{Method} {Endpoint}: {Count} requests ({Partial} partial, {NotModified} not modified), {Bytes} bytes, {MeanMs:0.00} ms mean, {MaxMs:0.0} ms max, in {Seconds:0.0} s, request id {RequestIdValue}")]
    private static partial void LogSummary(ILogger logger, string method, string endpoint, long count, long partial, long notModified, long bytes,
        double meanMs, double maxMs, double seconds, string requestIdValue);
}

/// <summary>How often summarized access lines are written, bound from the <c>Shoppe</c> section.</summary>
public sealed class AccessSummaryOptions
{
    /// <summary>
    /// How often the summarized access lines of high-rate endpoints are written (<see cref="SummarizedAccessLog"/>):
    /// one line per request id and user, counting that endpoint's requests since the last.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "01:00:00")]
    public TimeSpan AccessSummaryInterval { get; set; } = TimeSpan.FromSeconds(5);
}
