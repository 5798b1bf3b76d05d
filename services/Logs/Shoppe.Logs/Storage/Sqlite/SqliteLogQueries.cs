using System.Text;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Shoppe.Logs.Storage.Sqlite;

/// <summary>
/// What the store answers about a request: what is known of it, a page of its records, and a summary of
/// them, each on a kept reader. A request's records are found through its number on the (request, time)
/// index; the many rows of a long request are read on SQLite's own statement API.
/// </summary>
internal sealed class SqliteLogQueries(SqliteReaderPool readers, TextIndexer textIndexer)
{
    /// <summary>The records of the request named by <c>$r</c>, found through its number.</summary>
    private const string OfRequest = "request = (SELECT key FROM requests WHERE request_id = $r)";

    /// <summary>A request's records, in the column order <see cref="ReadEntries"/> reads.</summary>
    private const string SelectEntries =
        "SELECT id, ts, service, severity, message, attributes, trace_id, span_id FROM records WHERE " + OfRequest;

    /// <inheritdoc cref="ILogStore.GetRequestAsync"/>
    public async Task<RequestInfo?> GetRequestAsync(string requestId, CancellationToken cancellationToken)
    {
        using var lease = readers.Rent();
        var connection = lease.Connection;
        using var cmd = connection.CreateCommand();
        // First and last times come from the (request, time) index: two seeks.
        cmd.CommandText = """
            SELECT owner, finished,
                (SELECT min(ts) FROM records WHERE request = requests.key),
                (SELECT max(ts) FROM records WHERE request = requests.key)
            FROM requests WHERE request_id = $r
            """;
        cmd.Parameters.AddWithValue("$r", requestId);
        using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) && !reader.IsDBNull(2)
            ? new RequestInfo(requestId, reader.IsDBNull(0) ? null : reader.GetString(0), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(1) != 0)
            : null;
    }

    /// <inheritdoc cref="ILogStore.QueryAsync"/>
    public async Task<LogPage> QueryAsync(LogQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.Words is not null)
        {
            await textIndexer.CatchUpAsync(cancellationToken);
        }

        using var lease = readers.Rent();
        var connection = lease.Connection;
        using var cmd = connection.CreateCommand();
        var sql = new StringBuilder(SelectEntries);
        cmd.Parameters.AddWithValue("$r", query.RequestId);
        AddFilters(cmd, sql, query.MinSeverity, query.Service, query.SinceUnixNano, query.UntilUnixNano, query.Words, query.VisibleTo);
        if (query.After is { } after)
        {
            sql.Append(" AND (ts > $ats OR (ts = $ats AND id > $aid))");
            cmd.Parameters.AddWithValue("$ats", after.TimeUnixNano);
            cmd.Parameters.AddWithValue("$aid", after.Id);
        }

        // One more than asked tells whether another page follows. The (request, time) index gives this
        // order without a sort: its entries end in the record id.
        sql.Append(" ORDER BY ts, id LIMIT $limit");
        cmd.Parameters.AddWithValue("$limit", query.Limit + 1);
        var records = ReadEntries(connection, sql.ToString(), cmd.Parameters, query.RequestId, query.Limit + 1, cancellationToken);
        if (records.Count > query.Limit)
        {
            records.RemoveAt(records.Count - 1);
            return new LogPage(records, records[^1].Cursor);
        }

        return new LogPage(records, null);
    }

    /// <inheritdoc cref="ILogStore.SummarizeAsync"/>
    public async Task<RequestSummary> SummarizeAsync(RequestInfo request, string? visibleTo, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var requestId = request.RequestId;
        using var lease = readers.Rent();
        var connection = lease.Connection;
        var byLevel = new SortedDictionary<string, long>(StringComparer.Ordinal);
        var byService = new SortedDictionary<string, long>(StringComparer.Ordinal);
        long total = 0;
        using (var cmd = connection.CreateCommand())
        {
            var sql = new StringBuilder("SELECT service, severity, count(*) FROM records WHERE ").Append(OfRequest);
            cmd.Parameters.AddWithValue("$r", requestId);
            AddFilters(cmd, sql, 0, null, null, null, null, visibleTo);
            sql.Append(" GROUP BY service, severity");
            cmd.CommandText = sql.ToString();
            using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                var n = reader.GetInt64(2);
                var level = LogLevels.NameOf(reader.GetInt32(1));
                byLevel[level] = byLevel.GetValueOrDefault(level) + n;
                byService[reader.GetString(0)] = byService.GetValueOrDefault(reader.GetString(0)) + n;
                total += n;
            }
        }

        LogEntry? firstError;
        using (var cmd = connection.CreateCommand())
        {
            var sql = new StringBuilder(SelectEntries);
            cmd.Parameters.AddWithValue("$r", requestId);
            AddFilters(cmd, sql, 17, null, null, null, null, visibleTo);
            sql.Append(" ORDER BY ts, id LIMIT 1");
            firstError = ReadEntries(connection, sql.ToString(), cmd.Parameters, requestId, 1, cancellationToken) is [var first] ? first : null;
        }

        return new RequestSummary(request, total, byLevel, byService, firstError);
    }

    /// <summary>
    /// Runs a <see cref="SelectEntries"/> query on SQLite's own statement API: a long request's full read
    /// spent more time in the data reader's per-column calls than in SQLite (docs/performance.md, "Logs").
    /// </summary>
    private static List<LogEntry> ReadEntries(SqliteConnection connection, string sql, SqliteParameterCollection parameters, string requestId, int expected, CancellationToken cancellationToken)
    {
        var db = connection.Handle!;
        using var statement = SqliteStatements.Prepare(connection, sql);
        foreach (SqliteParameter p in parameters)
        {
            var index = raw.sqlite3_bind_parameter_index(statement, p.ParameterName);
            SqliteStatements.Check(p.Value switch
            {
                long l => raw.sqlite3_bind_int64(statement, index, l),
                int i => raw.sqlite3_bind_int64(statement, index, i),
                string t => raw.sqlite3_bind_text(statement, index, t),
                _ => throw new InvalidOperationException($"No binding for {p.ParameterName}."),
            }, db);
        }

        var records = new List<LogEntry>(Math.Min(expected, 1024));
        var services = new List<(byte[] Utf8, string Name)>();
        int rc;
        while ((rc = raw.sqlite3_step(statement)) == raw.SQLITE_ROW)
        {
            if ((records.Count & 1023) == 1023)
            {
                cancellationToken.ThrowIfCancellationRequested();
            }

            records.Add(new LogEntry(
                raw.sqlite3_column_int64(statement, 0),
                requestId,
                raw.sqlite3_column_int64(statement, 1),
                ServiceName(raw.sqlite3_column_blob(statement, 2), services),
                raw.sqlite3_column_int(statement, 3),
                Text(statement, 4)!,
                Text(statement, 5),
                Text(statement, 6),
                Text(statement, 7)));
        }

        if (rc != raw.SQLITE_DONE)
        {
            SqliteException.ThrowExceptionForRC(rc, db);
        }

        return records;
    }

    private static string? Text(sqlite3_stmt statement, int column) =>
        raw.sqlite3_column_type(statement, column) == raw.SQLITE_NULL ? null : Encoding.UTF8.GetString(raw.sqlite3_column_blob(statement, column));

    /// <summary>A read's few service names are each made into a string once, not once a record.</summary>
    private static string ServiceName(ReadOnlySpan<byte> utf8, List<(byte[] Utf8, string Name)> seen)
    {
        foreach (var (bytes, name) in seen)
        {
            if (utf8.SequenceEqual(bytes))
            {
                return name;
            }
        }

        var made = Encoding.UTF8.GetString(utf8);
        if (seen.Count < 16)
        {
            seen.Add((utf8.ToArray(), made));
        }

        return made;
    }

    private static void AddFilters(SqliteCommand cmd, StringBuilder sql, int minSeverity, string? service, long? since, long? until, IReadOnlyList<string>? words, string? visibleTo)
    {
        if (minSeverity > 0)
        {
            sql.Append(" AND severity >= $sev");
            cmd.Parameters.AddWithValue("$sev", minSeverity);
        }

        if (service is not null)
        {
            sql.Append(" AND service = $svc");
            cmd.Parameters.AddWithValue("$svc", service);
        }

        if (since is { } s)
        {
            sql.Append(" AND ts >= $since");
            cmd.Parameters.AddWithValue("$since", s);
        }

        if (until is { } u)
        {
            sql.Append(" AND ts < $until");
            cmd.Parameters.AddWithValue("$until", u);
        }

        if (words is not null)
        {
            // Bound the text index's scan to this request's span of ids: without it, a common word drags
            // every match in the store through the join (docs/performance.md, "Logs").
            sql.Append(" AND id IN (SELECT rowid FROM text.records_fts WHERE records_fts MATCH $q AND rowid BETWEEN ")
               .Append("(SELECT min(id) FROM records WHERE ").Append(OfRequest).Append(") AND (SELECT max(id) FROM records WHERE ").Append(OfRequest).Append("))");
            cmd.Parameters.AddWithValue("$q", Fts5AllWords(words));
        }

        if (visibleTo is not null)
        {
            // A record written for someone else under this request id is not the owner's to read.
            sql.Append(" AND (enduser IS NULL OR enduser = $owner)");
            cmd.Parameters.AddWithValue("$owner", visibleTo);
        }
    }

    /// <summary>Every word as a quoted FTS5 phrase (quotes doubled), all required: user text is never FTS5 syntax.</summary>
    private static string Fts5AllWords(IReadOnlyList<string> words) =>
        string.Join(' ', words.Select(w => "\"" + w.Replace("\"", "\"\"", StringComparison.Ordinal) + "\""));
}
