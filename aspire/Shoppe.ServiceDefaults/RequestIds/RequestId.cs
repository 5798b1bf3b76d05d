using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
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

    private static readonly SearchValues<char> Allowed =
        SearchValues.Create("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_.:");

    private static readonly AsyncLocal<string?> CurrentId = new();

    /// <summary>
    /// The request id of the work running on this asynchronous flow, or null outside any request.
    /// Set by the request-id middleware for HTTP requests and by <see cref="BeginScope"/> for background work.
    /// </summary>
    public static string? Current => CurrentId.Value;

    /// <summary>
    /// A new request id: a version-7 UUID (RFC 9562: 48 bits of Unix milliseconds, then 74 random bits) in 32 hex
    /// digits, so ids sort by creation time. The random bits come from the system's secure generator a kilobyte at
    /// a time: a call to it for each id was 2% of the cache's CPU on small reads, which make an id each.
    /// </summary>
    public static string NewId()
    {
        var random = _random ??= new byte[1000];
        if (_used == 0 || _used + 10 > random.Length)
        {
            RandomNumberGenerator.Fill(random);
            _used = 0;
        }

        Span<byte> id = stackalloc byte[16];
        BinaryPrimitives.WriteInt64BigEndian(id, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() << 16);
        random.AsSpan(_used, 10).CopyTo(id[6..]);
        random.AsSpan(_used, 10).Clear();
        _used += 10;
        id[6] = (byte)(0x70 | (id[6] & 0x0F));
        id[8] = (byte)(0x80 | (id[8] & 0x3F));
        return Convert.ToHexStringLower(id);
    }

    [ThreadStatic]
    private static byte[]? _random;

    [ThreadStatic]
    private static int _used;

    /// <summary>Whether <paramref name="value"/> is acceptable as a request id from a caller.</summary>
    public static bool IsValid([NotNullWhen(true)] string? value) =>
        !string.IsNullOrEmpty(value)
        && value.Length <= MaxLength
        && !value.AsSpan().ContainsAnyExcept(Allowed);

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

        var previous = CurrentId.Value;
        CurrentId.Value = requestId;
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
            CurrentId.Value = previous;
            OpenTelemetry.Baggage.Current = previousBaggage;
        }
    }
}
