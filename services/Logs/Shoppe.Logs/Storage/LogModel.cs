namespace Shoppe.Logs.Storage;

/// <summary>One log record as ingested, ready to store.</summary>
/// <param name="RequestId">The request it belongs to ("" when it belongs to none).</param>
/// <param name="TimeUnixNano">When it happened (the record's time, else its observed time).</param>
/// <param name="Service">The emitting service (<c>service.name</c>).</param>
/// <param name="Severity">The OTLP severity number (1-24).</param>
/// <param name="Message">The log message.</param>
/// <param name="AttributesJson">The remaining attributes as a JSON object, or null.</param>
/// <param name="TraceId">The trace id in hex, or null.</param>
/// <param name="SpanId">The span id in hex, or null.</param>
/// <param name="EndUser">The user the record was written for (<c>enduser.id</c>), or null.</param>
/// <param name="FinishesRequest">Whether this record says its request has finished.</param>
public sealed record LogRecordRow(
    string RequestId,
    long TimeUnixNano,
    string Service,
    int Severity,
    string Message,
    string? AttributesJson,
    string? TraceId,
    string? SpanId,
    string? EndUser,
    bool FinishesRequest);

/// <summary>A stored log record, as a query returns it.</summary>
public sealed record LogEntry(
    long Id,
    string RequestId,
    long TimeUnixNano,
    string Service,
    int Severity,
    string Message,
    string? AttributesJson,
    string? TraceId,
    string? SpanId)
{
    /// <summary>The record's time.</summary>
    public DateTimeOffset Time => DateTimeOffset.UnixEpoch.AddTicks(TimeUnixNano / 100);

    /// <summary>The level name of the record's severity.</summary>
    public string Level => LogLevels.NameOf(Severity);

    /// <summary>The position just after this record, for paging and following.</summary>
    public LogCursor Cursor => new(TimeUnixNano, Id);
}

/// <summary>A position in one request's records: (time, id), both increasing.</summary>
public readonly record struct LogCursor(long TimeUnixNano, long Id)
{
    /// <summary>The opaque text form handed to clients.</summary>
    public override string ToString() =>
        Convert.ToBase64String(System.Text.Encoding.ASCII.GetBytes($"{TimeUnixNano}.{Id}"))
            .TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>Parses a cursor a client sent back; false for anything that is not one of ours.</summary>
    public static bool TryParse(string? text, out LogCursor cursor)
    {
        cursor = default;
        if (string.IsNullOrEmpty(text) || text.Length > 64)
        {
            return false;
        }

        var b64 = text.Replace('-', '+').Replace('_', '/');
        b64 = b64.PadRight(b64.Length + ((4 - (b64.Length % 4)) % 4), '=');
        Span<byte> bytes = stackalloc byte[64];
        if (!Convert.TryFromBase64String(b64, bytes, out var written))
        {
            return false;
        }

        var plain = System.Text.Encoding.ASCII.GetString(bytes[..written]);
        var dot = plain.IndexOf('.', StringComparison.Ordinal);
        if (dot <= 0
            || !long.TryParse(plain.AsSpan(0, dot), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var ts)
            || !long.TryParse(plain.AsSpan(dot + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var id))
        {
            return false;
        }

        cursor = new LogCursor(ts, id);
        return true;
    }
}

/// <summary>What a reader asks of one request's records (and, unless told otherwise, its descendants').</summary>
/// <param name="RequestId">The request.</param>
/// <param name="MinSeverity">Only records at or above this OTLP severity number.</param>
/// <param name="Service">Only this service's records.</param>
/// <param name="SinceUnixNano">Only records at or after this time.</param>
/// <param name="UntilUnixNano">Only records before this time.</param>
/// <param name="Words">Words that must all appear in the message (<see cref="Query.TextQuery"/>), or null.</param>
/// <param name="After">Only records after this position.</param>
/// <param name="Limit">At most this many records.</param>
/// <param name="VisibleTo">
/// For a non-operator: the owner. Records written for another user are left out, and so are the unattributed
/// records (no <c>enduser.id</c>) of a request that another user owns (<see cref="RequestTrees"/>).
/// </param>
/// <param name="Descendants">
/// Whether the records of the request's descendants (<see cref="RequestTrees"/>) come too, as the API's
/// default is; false for the request's own records alone.
/// </param>
public sealed record LogQuery(
    string RequestId,
    int MinSeverity,
    string? Service,
    long? SinceUnixNano,
    long? UntilUnixNano,
    IReadOnlyList<string>? Words,
    LogCursor? After,
    int Limit,
    string? VisibleTo,
    bool Descendants = true);

/// <summary>One page of records and where the next begins (null at the end).</summary>
public sealed record LogPage(IReadOnlyList<LogEntry> Records, LogCursor? Next);

/// <summary>What is known of a request, and of its descendants when <paramref name="Descendants"/> is set.</summary>
/// <param name="RequestId">The request asked for.</param>
/// <param name="Owner">Who may read it (<see cref="RequestTrees"/>), or null when no user is known.</param>
/// <param name="FirstSeenUnixNano">The time of its first record (of its descendants' too, with <paramref name="Descendants"/>).</param>
/// <param name="LastSeenUnixNano">The time of its last record (likewise).</param>
/// <param name="Finished">Whether the request itself has said it ended: a descendant's end does not end it.</param>
/// <param name="Descendants">Whether the times (and a summary of it) cover its descendants.</param>
public sealed record RequestInfo(string RequestId, string? Owner, long FirstSeenUnixNano, long LastSeenUnixNano, bool Finished, bool Descendants);

/// <summary>
/// How request ids nest: a request <c>W</c> (a workflow) has descendants <c>W:0</c>, <c>W:1</c>, … (its jobs), and
/// <c>W:5:0</c>, … (the jobs of a sub-workflow that job <c>W:5</c> started): every id that starts with <c>W:</c>.
/// </summary>
/// <remarks>
/// Who reads a tree: its owner is the first user seen on the id itself, or, while no record of the id itself
/// has arrived, the first user seen on its descendants (the first descendant to arrive that names one).
/// Whoever reads it, records written for another user are never shown to a non-operator, and neither are the
/// unattributed records of a descendant that another user owns (one whose first user was someone else).
/// </remarks>
public static class RequestTrees
{
    /// <summary>Between a request id and its descendants' own parts.</summary>
    public const char Separator = ':';

    /// <summary>Whether <paramref name="requestId"/> is <paramref name="root"/> or one of its descendants.</summary>
    public static bool Contains(string root, string requestId)
    {
        ArgumentNullException.ThrowIfNull(root);
        ArgumentNullException.ThrowIfNull(requestId);
        return requestId.StartsWith(root, StringComparison.Ordinal)
            && (requestId.Length == root.Length || requestId[root.Length] == Separator);
    }

    /// <summary>
    /// How a record of <paramref name="requestId"/> names its request to a reader of <paramref name="root"/>: null for
    /// the root itself, the part after the root (<c>:5:0</c>) for a descendant, the whole id otherwise.
    /// </summary>
    public static string? Relative(string root, string requestId) =>
        requestId == root ? null : Contains(root, requestId) ? requestId[root.Length..] : requestId;
}

/// <summary>Counts of one request's records (with its descendants', as the request info says) and its first error.</summary>
public sealed record RequestSummary(
    RequestInfo Request,
    long Total,
    IReadOnlyDictionary<string, long> ByLevel,
    IReadOnlyDictionary<string, long> ByService,
    LogEntry? FirstError);

/// <summary>OTLP severity numbers and their level names.</summary>
public static class LogLevels
{
    /// <summary>The level names, lowest first.</summary>
    public static readonly string[] Names = ["trace", "debug", "info", "warn", "error", "fatal"];

    /// <summary>The level name of an OTLP severity number (1-4 trace, 5-8 debug, ... 21-24 fatal).</summary>
    public static string NameOf(int severity) => severity <= 0 ? "unspecified" : Names[Math.Min((severity - 1) / 4, Names.Length - 1)];

    /// <summary>The lowest severity number of a level name (<c>error</c> gives 17), or false.</summary>
    public static bool TryMinSeverity(string? name, out int severity)
    {
        var index = Array.IndexOf(Names, name?.ToLowerInvariant() switch { "warning" => "warn", "information" => "info", "critical" => "fatal", var n => n });
        severity = index < 0 ? 0 : (index * 4) + 1;
        return index >= 0;
    }
}

/// <summary>Where records are kept: the embedded SQLite store on one machine, Elasticsearch at sites.</summary>
public interface ILogStore
{
    /// <summary>Stores a batch durably; when this returns, the records survive a restart.</summary>
    Task AppendAsync(IReadOnlyList<LogRecordRow> records, CancellationToken cancellationToken);

    /// <summary>
    /// What is known of a request (with <paramref name="descendants"/>, of it and its descendants together), or null
    /// if no record of it (nor of any descendant) arrived.
    /// </summary>
    Task<RequestInfo?> GetRequestAsync(string requestId, bool descendants, CancellationToken cancellationToken);

    /// <summary>One page of a request's records (and its descendants', as the query says), oldest first.</summary>
    Task<LogPage> QueryAsync(LogQuery query, CancellationToken cancellationToken);

    /// <summary>
    /// Counts by level and service and the first error of a known request (of its descendants too when
    /// <see cref="RequestInfo.Descendants"/>), of what <paramref name="visibleTo"/> may see.
    /// </summary>
    Task<RequestSummary> SummarizeAsync(RequestInfo request, string? visibleTo, CancellationToken cancellationToken);
}
