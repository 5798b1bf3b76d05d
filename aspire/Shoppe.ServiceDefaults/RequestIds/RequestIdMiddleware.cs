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
internal sealed class RequestIdMiddleware(RequestDelegate next, RequestAccessLog accessLog)
{
    public async Task InvokeAsync(HttpContext context, IProblemDetailsService problemDetails)
    {
        var requestId = RequestAccessLog.ReadRequestId(context.Request, out var fromCaller);
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

        using var scopes = accessLog.Enter(context, requestId, fromCaller);
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
                accessLog.Record(context, requestId, fromCaller, RequestAccessLog.EndUser(context), endpointName: null, elapsedMs);
            }
        }
    }

    // Health probes arrive every few seconds from orchestrators; an access line for each would bury the rest.
    private static bool IsProbe(PathString path) =>
        path.StartsWithSegments("/health", StringComparison.OrdinalIgnoreCase)
        || path.StartsWithSegments("/alive", StringComparison.OrdinalIgnoreCase);
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
