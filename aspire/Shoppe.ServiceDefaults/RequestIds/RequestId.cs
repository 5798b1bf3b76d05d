using System.Buffers;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;

namespace Shoppe.ServiceDefaults.RequestIds;

/// <summary>
/// The request id: the thread that ties every log record, span and internal call of one
/// user-facing request together (docs/architecture.md, "The request id").
/// </summary>
public static class RequestId
{
    /// <summary>The HTTP header that carries the request id between clients and services.</summary>
    public const string HeaderName = "X-Shoppe-Request-Id";

    /// <summary>The attribute name on spans, log records and baggage.</summary>
    public const string AttributeName = ShoppeAttributes.RequestId;

    /// <summary>The longest request id accepted from a caller.</summary>
    public const int MaxLength = 128;

    private static readonly SearchValues<char> s_allowed =
        SearchValues.Create("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_.:");

    private static readonly AsyncLocal<string?> s_current = new();

    /// <summary>
    /// The request id of the work running on this asynchronous flow, or null outside any request.
    /// Set by the request-id middleware for HTTP requests and by <see cref="BeginScope"/> for background work.
    /// </summary>
    public static string? Current => s_current.Value;

    /// <summary>
    /// A new request id: a version-7 GUID in 32 hex digits, so ids sort by creation time.
    /// </summary>
    public static string NewId() => Guid.CreateVersion7().ToString("N");

    /// <summary>Whether <paramref name="value"/> is acceptable as a request id from a caller.</summary>
    public static bool IsValid([NotNullWhen(true)] string? value) =>
        !string.IsNullOrEmpty(value)
        && value.Length <= MaxLength
        && !value.AsSpan().ContainsAnyExcept(s_allowed);

    /// <summary>
    /// Makes <paramref name="requestId"/> the current request id for this asynchronous flow: it is put on
    /// the current activity (tag and baggage) and read by the outgoing-call handler. Dispose to restore
    /// the previous one. Background workers call this before doing a request's work.
    /// </summary>
    public static IDisposable BeginScope(string requestId)
    {
        if (!IsValid(requestId))
        {
            throw new ArgumentException($"'{requestId}' is not a valid request id.", nameof(requestId));
        }

        var previous = s_current.Value;
        s_current.Value = requestId;
        Tag(Activity.Current, requestId);
        var previousBaggage = OpenTelemetry.Baggage.Current;
        OpenTelemetry.Baggage.SetBaggage(AttributeName, requestId);
        return new Restore(previous, previousBaggage);
    }

    /// <summary>Puts the request id on an activity as a tag and as baggage, so it travels on.</summary>
    internal static void Tag(Activity? activity, string requestId)
    {
        if (activity is null)
        {
            return;
        }

        activity.SetTag(AttributeName, requestId);
        if (activity.GetBaggageItem(AttributeName) != requestId)
        {
            activity.SetBaggage(AttributeName, requestId);
        }
    }

    private sealed class Restore(string? previous, OpenTelemetry.Baggage previousBaggage) : IDisposable
    {
        public void Dispose()
        {
            s_current.Value = previous;
            OpenTelemetry.Baggage.Current = previousBaggage;
        }
    }
}
