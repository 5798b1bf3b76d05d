using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Shoppe.ServiceDefaults.RequestIds;

/// <summary>
/// The request-id thread's entry and exit, as the shared pipeline's request-id middleware uses them and as any
/// middleware that answers ahead of that pipeline must (Shoppe.Http's front lanes): a request's id taken from the
/// caller or made, its feature, header, activity tag, baggage and logging scope, and its one access line.
/// </summary>
public sealed partial class RequestAccessLog
{
    /// <summary>The category of the one access line each request writes.</summary>
    public const string Category = "Shoppe.Access";

    private readonly IAccessLineSummarizer? _summarizer;

    /// <summary>Takes the access logger and the service's summarizer, if it registered one.</summary>
    public RequestAccessLog(ILoggerFactory loggerFactory, IEnumerable<IAccessLineSummarizer> summarizers)
    {
        ArgumentNullException.ThrowIfNull(loggerFactory);
        ArgumentNullException.ThrowIfNull(summarizers);
        Logger = loggerFactory.CreateLogger(Category);
        _summarizer = summarizers.LastOrDefault();
    }

    /// <summary>The <see cref="Category"/> logger.</summary>
    public ILogger Logger { get; }

    /// <summary>
    /// Gives a request its id: as a request feature, in the response header, on the activity, in baggage and
    /// <see cref="RequestId.Current"/>, and in the logging scope, until the scopes are disposed.
    /// </summary>
    public RequestScopes Enter(HttpContext context, string requestId, bool fromCaller)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.Features.Set<IRequestIdFeature>(new RequestIdFeature(requestId, fromCaller));
        context.Response.Headers[RequestId.HeaderName] = requestId;
        return new RequestScopes(RequestId.BeginScope(requestId), Logger.BeginScope(new AttributeLogScope(RequestId.AttributeName, requestId)));
    }

    /// <summary>A logging scope naming the user a request is for; null for none.</summary>
    public IDisposable? BeginUserScope(string? user) => user is null ? null : Logger.BeginScope(new AttributeLogScope(ShoppeAttributes.EndUser, user));

    /// <summary>
    /// The access line of one request: counted into a summary where the service summarizes this endpoint's
    /// successful requests (<see cref="IAccessLineSummarizer"/>), else written now under the request's scopes.
    /// </summary>
    /// <param name="context">The request, answered.</param>
    /// <param name="requestId">Its id.</param>
    /// <param name="fromCaller">Whether the caller sent the id.</param>
    /// <param name="user">Whom it was for (null: anonymous, or a service).</param>
    /// <param name="endpointName">The endpoint a front lane answered for; null for the request's routed endpoint.</param>
    /// <param name="elapsedMs">How long it took.</param>
    public void Record(HttpContext context, string requestId, bool fromCaller, string? user, string? endpointName, double elapsedMs)
    {
        ArgumentNullException.ThrowIfNull(context);
        var status = context.Response.StatusCode;
        if (status < 400 && _summarizer is not null && _summarizer.TryCount(context, requestId, fromCaller, user, endpointName, elapsedMs))
        {
            return;
        }

        using var userScope = BeginUserScope(user);
        LogAccess(Logger, context.Request.Method, context.Request.Path, status, elapsedMs, requestId, fromCaller ? "caller" : "created");
    }

    /// <summary>The user a request is for as access lines name them: null for anonymous callers and services.</summary>
    public static string? EndUser(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return context.User.Identity is { IsAuthenticated: true, Name: { Length: > 0 } name } && !context.User.IsInRole("service") ? name : null;
    }

    /// <summary>Whether the caller sent a request id header that is not a valid one (the middleware answers 400).</summary>
    public static bool HasMalformedRequestId(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var headers = request.Headers[RequestId.HeaderName];
        return headers.Count > 0 && (headers.Count != 1 || !RequestId.IsValid(headers[0]));
    }

    /// <summary>The caller's request id (header, then W3C baggage) or a new one.</summary>
    /// <returns>The request id, or null when the caller sent a malformed one.</returns>
    public static string? ReadRequestId(HttpRequest request, out bool fromCaller)
    {
        ArgumentNullException.ThrowIfNull(request);
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

/// <summary>The scopes <see cref="RequestAccessLog.Enter"/> opened; disposing closes them.</summary>
public readonly struct RequestScopes : IDisposable, IEquatable<RequestScopes>
{
    private readonly IDisposable _requestId;
    private readonly IDisposable? _logScope;

    internal RequestScopes(IDisposable requestId, IDisposable? logScope)
    {
        _requestId = requestId;
        _logScope = logScope;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _logScope?.Dispose();
        _requestId?.Dispose();
    }

    /// <inheritdoc/>
    public bool Equals(RequestScopes other) => ReferenceEquals(_requestId, other._requestId) && ReferenceEquals(_logScope, other._logScope);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is RequestScopes other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(_requestId, _logScope);

    /// <summary>Whether two values hold the same scopes.</summary>
    public static bool operator ==(RequestScopes left, RequestScopes right) => left.Equals(right);

    /// <summary>Whether two values hold different scopes.</summary>
    public static bool operator !=(RequestScopes left, RequestScopes right) => !left.Equals(right);
}

/// <summary>
/// Takes a service's high-rate requests off the one-line-per-request path (Shoppe.Http's summarized access lines):
/// registered by the service that wants it; without one, every request writes its own line.
/// </summary>
public interface IAccessLineSummarizer
{
    /// <summary>
    /// Counts a successful request into a summary line instead of a line of its own; false when it must have its own
    /// line now (not a summarized endpoint, or too many summaries open).
    /// </summary>
    /// <param name="context">The request, answered.</param>
    /// <param name="requestId">Its id.</param>
    /// <param name="fromCaller">Whether the caller sent the id.</param>
    /// <param name="user">Whom it was for.</param>
    /// <param name="endpointName">The endpoint a front lane answered for; null for the request's routed endpoint.</param>
    /// <param name="elapsedMs">How long it took.</param>
    bool TryCount(HttpContext context, string requestId, bool fromCaller, string? user, string? endpointName, double elapsedMs);
}
