using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Shoppe.ServiceDefaults;
using Shoppe.ServiceDefaults.RequestIds;

namespace Shoppe.Http.FrontLanes;

/// <summary>
/// A way for a service's hottest requests past the shared pipeline (problem details, status pages, request-id
/// scopes, routing, authentication, authorization), for requests the service can tell at once are allowed and
/// simple: the cache's range reads of blocks already on disk, by a caller whose token the whole pipeline accepted
/// moments ago. Each stage costs a few microseconds; at ten thousand 64 KiB reads a second they were two fifths of
/// the cache's CPU (docs/performance.md, "Cache"). A lane in doubt declines and the request takes the pipeline, so
/// every refusal, error and unusual request is answered there, as before.
/// </summary>
/// <remarks>
/// Registered with <c>AddFrontLane&lt;TLane&gt;()</c>, which puts the lanes at the very front of the pipeline. A
/// request a lane takes still gets what the request-id middleware gives: its id (the caller's, or a new one) in the
/// response header, on the current activity, in baggage and in the logging scopes with its user, and its access line.
/// </remarks>
public abstract class FrontLane
{
    /// <summary>The endpoint the lane stands in for: its requests are counted under this name in access summaries.</summary>
    public abstract string EndpointName { get; }

    /// <summary>
    /// Whether the lane answers this request: decided without I/O or waiting, writing nothing. Anything taken
    /// (a pinned file) goes in <paramref name="state"/> and <see cref="ServeAsync"/> is then always called.
    /// </summary>
    /// <param name="context">The request.</param>
    /// <param name="user">Whom the request is for, as access lines name them (null: anonymous, or a service).</param>
    /// <param name="state">What <see cref="ServeAsync"/> needs.</param>
    public abstract bool TryTake(HttpContext context, out string? user, out object? state);

    /// <summary>Answers a request the lane took. An exception before the response starts is a 500 problem.</summary>
    public abstract Task ServeAsync(HttpContext context, object? state);

    /// <summary>The user a request is for as its access line names them: null for anonymous callers and services.</summary>
    public static string? UserOf(HttpContext context) => RequestAccessLog.EndUser(context);

    /// <summary>Lets go of what <see cref="TryTake"/> took, for a request that could not be served after all.</summary>
    public virtual void Release(object? state)
    {
    }
}

/// <summary>The middleware in front of the shared pipeline that offers each request to the service's lanes.</summary>
internal sealed partial class FrontLaneMiddleware(RequestDelegate next, IEnumerable<FrontLane> lanes, RequestAccessLog accessLog, ILoggerFactory loggerFactory)
{
    private readonly FrontLane[] _lanes = [.. lanes];
    private readonly ILogger _logger = loggerFactory.CreateLogger<FrontLane>();

    public Task InvokeAsync(HttpContext context)
    {
        // A malformed request id is the pipeline's to refuse, before any lane takes anything.
        if (RequestAccessLog.HasMalformedRequestId(context.Request))
        {
            return next(context);
        }

        foreach (var lane in _lanes)
        {
            if (lane.TryTake(context, out var user, out var state))
            {
                return ServeAsync(context, lane, user, state);
            }
        }

        return next(context);
    }

    private async Task ServeAsync(HttpContext context, FrontLane lane, string? user, object? state)
    {
        var serving = false;
        try
        {
            var requestId = RequestAccessLog.ReadRequestId(context.Request, out var fromCaller)!;
            using var scopes = accessLog.Enter(context, requestId, fromCaller);
            var started = Stopwatch.GetTimestamp();
            serving = true;
            try
            {
                // The user's scope ends before the access line, which opens its own.
                using (accessLog.BeginUserScope(user))
                {
                    try
                    {
                        await lane.ServeAsync(context, state);
                    }
                    catch (Exception) when (context.RequestAborted.IsCancellationRequested)
                    {
                        // The client left: nothing to answer, as the pipeline's exception handler does for it.
                        context.Response.StatusCode = StatusCodes.Status499ClientClosedRequest;
                    }
                    catch (Exception ex) when (!context.Response.HasStarted)
                    {
                        LogFailed(_logger, ex, context.Request.Method, context.Request.Path, lane.EndpointName);
                        context.Response.Clear();
                        context.Response.StatusCode = StatusCodes.Status500InternalServerError;
                        context.Response.Headers[RequestId.HeaderName] = requestId;
                        await Results.Problem(statusCode: StatusCodes.Status500InternalServerError, title: "An error occurred while processing your request.",
                            detail: $"Request id {requestId} finds its log records.").ExecuteAsync(context);
                    }
                }
            }
            finally
            {
                accessLog.Record(context, requestId, fromCaller, user, lane.EndpointName, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
        }
        finally
        {
            if (!serving)
            {
                lane.Release(state);
            }
        }
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Error, Message = "{Method} {Path} failed in the front lane of {Endpoint}")]
    private static partial void LogFailed(ILogger logger, Exception exception, string method, PathString path, string endpoint);
}
