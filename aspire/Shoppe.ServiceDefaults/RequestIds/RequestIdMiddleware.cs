using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Shoppe.ServiceDefaults.RequestIds;

/// <summary>
/// Reads the caller's <c>X-Shoppe-Request-Id</c> (or the <c>shoppe.request_id</c> baggage item), or
/// creates one; puts it on the current activity, in the logging scope and in baggage; and returns it
/// to the caller in the response header. A malformed id is refused with 400 problem details rather
/// than silently replaced, so a client never loses track of its own id.
/// </summary>
internal sealed partial class RequestIdMiddleware(RequestDelegate next, ILoggerFactory loggerFactory, AccessSummaries summaries)
{
    /// <summary>The category of the one access line each request writes.</summary>
    public const string AccessLogCategory = "Shoppe.Access";

    private readonly ILogger _logger = loggerFactory.CreateLogger(AccessLogCategory);

    public async Task InvokeAsync(HttpContext context, IProblemDetailsService problemDetails)
    {
        var requestId = ReadRequestId(context.Request, out var fromCaller);
        if (requestId is null)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            await problemDetails.WriteAsync(new ProblemDetailsContext
            {
                HttpContext = context,
                ProblemDetails =
                {
                    Status = StatusCodes.Status400BadRequest,
                    Title = "Invalid request id",
                    Detail = $"The {RequestId.HeaderName} header must be 1 to {RequestId.MaxLength} characters of " +
                             "letters, digits, '-', '_', '.' or ':'.",
                    Type = "https://coffea-shoppe.dev/problems/invalid-request-id",
                },
            });
            return;
        }

        using var scopes = Enter(context, _logger, requestId, fromCaller);
        var started = Stopwatch.GetTimestamp();
        try
        {
            await next(context);
        }
        finally
        {
            var elapsedMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            if (!IsProbe(context.Request.Path))
            {
                // By now authentication has run: the access line names the user the request was for, which
                // is how the logs service learns a request's owner. Services calling services are not users.
                var endpoint = context.GetEndpoint();
                var summarizedAs = endpoint?.Metadata.GetMetadata<SummarizedAccessLog>() is null
                    ? null
                    : endpoint.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.IEndpointNameMetadata>()?.EndpointName ?? endpoint.DisplayName ?? "";
                RecordAccess(_logger, summaries, context, requestId, fromCaller, EndUser(context), summarizedAs, elapsedMs);
            }
        }
    }

    /// <summary>
    /// Gives a request its id: as a request feature, in the response header, on the activity, in baggage and
    /// <see cref="RequestId.Current"/>, and in the logging scope, until the scopes are disposed.
    /// </summary>
    internal static RequestScopes Enter(HttpContext context, ILogger logger, string requestId, bool fromCaller)
    {
        context.Features.Set<IRequestIdFeature>(new RequestIdFeature(requestId, fromCaller));
        context.Response.Headers[RequestId.HeaderName] = requestId;
        return new RequestScopes(RequestId.BeginScope(requestId), logger.BeginScope(new AttributeLogScope(RequestId.AttributeName, requestId)));
    }

    /// <summary>The scopes <see cref="Enter"/> opened.</summary>
    internal readonly struct RequestScopes(IDisposable requestId, IDisposable? logScope) : IDisposable
    {
        public void Dispose()
        {
            logScope?.Dispose();
            requestId.Dispose();
        }
    }

    /// <summary>
    /// The access line of one request: counted into its summary when <paramref name="summarizedAs"/> names the
    /// endpoint and it succeeded, else written now under the request's scopes.
    /// </summary>
    internal static void RecordAccess(ILogger logger, AccessSummaries summaries, HttpContext context, string requestId, bool fromCaller, string? user, string? summarizedAs, double elapsedMs)
    {
        var status = context.Response.StatusCode;
        if (status < 400 && summarizedAs is not null
            && summaries.TryAdd(requestId, fromCaller, user, context.Request.Method, summarizedAs, status, context.Response.ContentLength ?? 0, elapsedMs))
        {
            return;
        }

        using var userScope = user is not null ? logger.BeginScope(new AttributeLogScope(ShoppeAttributes.EndUser, user)) : null;
        LogAccess(logger, context.Request.Method, context.Request.Path, status, elapsedMs, requestId, fromCaller ? "caller" : "created");
    }

    internal static string? EndUser(HttpContext context) =>
        context.User.Identity is { IsAuthenticated: true, Name: { Length: > 0 } name } && !context.User.IsInRole("service") ? name : null;

    // Health probes arrive every few seconds from orchestrators; an access line for each would bury the rest.
    private static bool IsProbe(PathString path) =>
        path.StartsWithSegments("/health", StringComparison.OrdinalIgnoreCase)
        || path.StartsWithSegments("/alive", StringComparison.OrdinalIgnoreCase);

    /// <summary>Whether the caller sent a request id header that is not a valid one (the middleware answers 400).</summary>
    internal static bool HasMalformedRequestId(HttpRequest request)
    {
        var headers = request.Headers[RequestId.HeaderName];
        return headers.Count > 0 && (headers.Count != 1 || !RequestId.IsValid(headers[0]));
    }

    /// <returns>The request id, or null when the caller sent a malformed one.</returns>
    internal static string? ReadRequestId(HttpRequest request, out bool fromCaller)
    {
        fromCaller = true;
        var headers = request.Headers[RequestId.HeaderName];
        if (headers.Count > 0)
        {
            var value = headers.Count == 1 ? headers[0] : null;
            return RequestId.IsValid(value) ? value : null;
        }

        // A caller that speaks only W3C baggage (another OpenTelemetry-instrumented client) still
        // gets its id honoured: ASP.NET Core has already extracted the baggage onto the activity.
        var fromBaggage = Activity.Current?.GetBaggageItem(RequestId.AttributeName);
        if (RequestId.IsValid(fromBaggage))
        {
            return fromBaggage;
        }

        fromCaller = false;
        return RequestId.NewId();
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information,
        Message = "{Method} {Path} -> {StatusCode} in {ElapsedMs:0.0} ms, request id {RequestIdValue} ({RequestIdOrigin})")]
    private static partial void LogAccess(ILogger logger, string method, PathString path, int statusCode,
        double elapsedMs, string requestIdValue, string requestIdOrigin);
}

/// <summary>The request id of the current HTTP request, as a request feature.</summary>
public interface IRequestIdFeature
{
    /// <summary>The request id.</summary>
    string RequestId { get; }

    /// <summary>Whether the caller sent it (true) or this service created it (false).</summary>
    bool FromCaller { get; }
}

internal sealed record RequestIdFeature(string RequestId, bool FromCaller) : IRequestIdFeature;
