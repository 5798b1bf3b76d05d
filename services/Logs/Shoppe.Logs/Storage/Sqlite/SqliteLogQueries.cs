using System.Text;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Shoppe.Logs.Storage.Sqlite;

/// <summary>
/// What the store answers about a request and its descendants (<see cref="RequestTrees"/>): what is known of it, a
/// page of its records, and a summary of them, each on a kept reader. The requests of a tree are found on the
/// unique index of request ids (<see cref="TreeMembers"/>), and each one's records through its number on the
/// (request, time) index; the many rows of a long request are read on SQLite's own statement API.
/// </summary>
internal sealed class SqliteLogQueries(SqliteReaderPool readers, TextIndexer textIndexer)
{
    /// <summary>A record's columns, in the order <see cref="ReadEntry"/> reads them.</summary>
    private const string SelectColumns = "SELECT id, ts, service, severity, message, attributes, trace_id, span_id";

    /// <summary>Also the request id of each record, for reads of several requests in one statement.</summary>
    private const string RequestIdColumn = ", (SELECT request_id FROM requests WHERE key = records.request)";

    /// <summary>The records of one request, by its number.</summary>
    private const string OfKey = "request = $key";

    /// <inheritdoc cref="ILogStore.GetRequestAsync"/>
    public Task<RequestInfo?> GetRequestAsync(string requestId, bool descendants, CancellationToken cancellationToken)
    {
        using var lease = readers.Rent();
        // First and last times come from the (request, time) index: two seeks a member.
        var members = TreeMembers.Find(lease, requestId, descendants, fromUnixNano: null, withLast: true, cancellationToken);
        return Task.FromResult(TreeMembers.Describe(requestId, descendants, members));
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
        // Only members with records at or after where the page starts are read at all: when a long workflow is
        // paged or followed, its finished jobs drop out.
        long? from = query.After?.TimeUnixNano is { } a && a > (query.SinceUnixNano ?? long.MinValue) ? a : query.SinceUnixNano;
        var members = TreeMembers.Find(lease, query.RequestId, query.Descendants, from, withLast: false, cancellationToken);
        if (query.UntilUnixNano is { } until)
        {
            members.RemoveAll(m => m.FirstTs >= until);
        }

        // One more than asked tells whether another page follows.
        var records = members.Count switch
        {
            0 => [],
            1 => ReadOne(lease, query, members[0], cancellationToken),
            _ when query.Words is not null => ReadTogether(lease, query, cancellationToken),
            _ => ReadMerged(lease, query, members, cancellationToken),
        };
        if (records.Count > query.Limit)
        {
            records.RemoveAt(records.Count - 1);
            return new LogPage(records, records[^1].Cursor);
        }

        return new LogPage(records, null);
    }

    /// <summary>
    /// One request's records: the (request, time) index gives them in order without a sort (its entries end in
    /// the record id), so a page reads no more rows than it returns.
    /// </summary>
    private static List<LogEntry> ReadOne(SqliteReaderPool.Lease reader, LogQuery query, TreeMember member, CancellationToken cancellationToken)
    {
        using var cmd = reader.Connection.CreateCommand();
        var sql = MemberRead(cmd, query);
        cmd.Parameters.AddWithValue("$key", member.Key);
        if (query.VisibleTo is not null)
        {
            cmd.Parameters.AddWithValue("$unattributed", TreeMembers.UnattributedVisible(member, query.VisibleTo) ? 1 : 0);
        }

        return ReadEntries(reader, sql, cmd.Parameters, member.RequestId, query.Limit + 1, cancellationToken);
    }

    /// <summary>
    /// The read of one member's records, in order, for <see cref="ReadOne"/> and <see cref="ReadMerged"/>: its
    /// parameters go into <paramref name="cmd"/>, but for <c>$key</c> and <c>$unattributed</c>, bound for each member.
    /// </summary>
    internal static string MemberRead(SqliteCommand cmd, LogQuery query)
    {
        var sql = new StringBuilder(SelectColumns).Append(" FROM records WHERE ").Append(OfKey);
        AddFilters(cmd, sql, query.MinSeverity, query.Service, query.SinceUnixNano, query.UntilUnixNano, query.Words, OfKey, query.VisibleTo, "$unattributed");
        AddAfter(cmd, sql, query.After);
        sql.Append(" ORDER BY ts, id LIMIT $limit");
        cmd.Parameters.AddWithValue("$limit", query.Limit + 1);
        return sql.ToString();
    }

    /// <summary>
    /// A text search across a tree, as one statement: the text index finds the few matching records of the tree's
    /// span of ids, and only those are sorted.
    /// </summary>
    private static List<LogEntry> ReadTogether(SqliteReaderPool.Lease reader, LogQuery query, CancellationToken cancellationToken)
    {
        using var cmd = reader.Connection.CreateCommand();
        var ofTree = OfTree(query.Descendants);
        var sql = new StringBuilder(SelectColumns).Append(RequestIdColumn).Append(" FROM records WHERE ").Append(ofTree);
        cmd.Parameters.AddWithValue("$r", query.RequestId);
        AddFilters(cmd, sql, query.MinSeverity, query.Service, query.SinceUnixNano, query.UntilUnixNano, query.Words, ofTree, query.VisibleTo, UnattributedOfTree(query.Descendants));
        AddAfter(cmd, sql, query.After);
        sql.Append(" ORDER BY ts, id LIMIT $limit");
        cmd.Parameters.AddWithValue("$limit", query.Limit + 1);
        return ReadEntries(reader, sql.ToString(), cmd.Parameters, requestId: null, query.Limit + 1, cancellationToken);
    }

    /// <summary>
    /// The records of several requests in time order: each member's own ordered read on the (request, time) index,
    /// merged. A member's read is opened only once the merge reaches the time its records begin, and a finished
    /// read's statement serves the next member, so a page costs about as many rows as it returns plus a seek for
    /// each member it spans. One statement over all of them must visit every index entry of the tree after the
    /// cursor to sort out a page: each page's cost grows with the whole tree, and a full read with its square
    /// (docs/performance.md, "Logs": request trees).
    /// </summary>
    private static List<LogEntry> ReadMerged(SqliteReaderPool.Lease reader, LogQuery query, List<TreeMember> members, CancellationToken cancellationToken)
    {
        using var cmd = reader.Connection.CreateCommand();
        var text = MemberRead(cmd, query);

        var db = reader.Connection.Handle!;
        var wanted = query.Limit + 1;
        // A member's records (from where the page starts) begin no earlier than its FirstTs.
        members.Sort(static (x, y) => x.FirstTs!.Value.CompareTo(y.FirstTs!.Value));
        var next = 0;
        var open = new PriorityQueue<(sqlite3_stmt Statement, string RequestId), (long Ts, long Id)>();
        var idle = new Stack<sqlite3_stmt>();
        var prepared = new List<sqlite3_stmt>();
        var records = new List<LogEntry>(Math.Min(wanted, 1024));
        var services = new List<(byte[] Utf8, string Name)>();
        try
        {
            while (records.Count < wanted)
            {
                // Open every member whose records could come next: no record of a member not yet opened is earlier
                // than where its records begin, so the least of the open reads is the least of all.
                while (next < members.Count && (!open.TryPeek(out _, out var least) || members[next].FirstTs <= least.Ts))
                {
                    var member = members[next++];
                    if (!idle.TryPop(out var statement))
                    {
                        statement = reader.Statements.Rent(text);
                        prepared.Add(statement);
                        Bind(statement, cmd.Parameters, db);
                    }

                    SqliteStatements.Check(raw.sqlite3_bind_int64(statement, raw.sqlite3_bind_parameter_index(statement, "$key"), member.Key), db);
                    if (raw.sqlite3_bind_parameter_index(statement, "$unattributed") is var u and > 0)
                    {
                        SqliteStatements.Check(raw.sqlite3_bind_int(statement, u, TreeMembers.UnattributedVisible(member, query.VisibleTo) ? 1 : 0), db);
                    }

                    Step(statement, member.RequestId);
                }

                if (!open.TryDequeue(out var current, out _))
                {
                    break;
                }

                if ((records.Count & 1023) == 1023)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                }

                records.Add(ReadEntry(current.Statement, current.RequestId, services));
                Step(current.Statement, current.RequestId);
            }
        }
        finally
        {
            foreach (var statement in prepared)
            {
                reader.Statements.Return(text, statement);
            }
        }

        return records;

        void Step(sqlite3_stmt statement, string requestId)
        {
            var rc = raw.sqlite3_step(statement);
            if (rc == raw.SQLITE_ROW)
            {
                open.Enqueue((statement, requestId), (raw.sqlite3_column_int64(statement, 1), raw.sqlite3_column_int64(statement, 0)));
            }
            else if (rc == raw.SQLITE_DONE)
            {
                raw.sqlite3_reset(statement);
                idle.Push(statement);
            }
            else
            {
                SqliteException.ThrowExceptionForRC(rc, db);
            }
        }
    }

    /// <inheritdoc cref="ILogStore.SummarizeAsync"/>
    public async Task<RequestSummary> SummarizeAsync(RequestInfo request, string? visibleTo, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        using var lease = readers.Rent();
        var connection = lease.Connection;
        var ofTree = OfTree(request.Descendants);
        var byLevel = new SortedDictionary<string, long>(StringComparer.Ordinal);
        var byService = new SortedDictionary<string, long>(StringComparer.Ordinal);
        long total = 0;
        using (var cmd = connection.CreateCommand())
        {
            var sql = new StringBuilder("SELECT service, severity, count(*) FROM records WHERE ").Append(ofTree);
            cmd.Parameters.AddWithValue("$r", request.RequestId);
            AddFilters(cmd, sql, 0, null, null, null, null, ofTree, visibleTo, UnattributedOfTree(request.Descendants));
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
            var sql = new StringBuilder(SelectColumns).Append(RequestIdColumn).Append(" FROM records WHERE ").Append(ofTree);
            cmd.Parameters.AddWithValue("$r", request.RequestId);
            AddFilters(cmd, sql, 17, null, null, null, null, ofTree, visibleTo, UnattributedOfTree(request.Descendants));
            sql.Append(" ORDER BY ts, id LIMIT 1");
            firstError = ReadEntries(lease, sql.ToString(), cmd.Parameters, requestId: null, 1, cancellationToken) is [var first] ? first : null;
        }

        return new RequestSummary(request, total, byLevel, byService, firstError);
    }

    /// <summary>The records of the tree of <c>$r</c> (or of <c>$r</c> alone), through their requests' numbers.</summary>
    private static string OfTree(bool descendants) =>
        $"request IN (SELECT key FROM requests WHERE {(descendants ? TreeMembers.OfTree : TreeMembers.OfRequest)})";

    /// <summary>The records, of the tree of <c>$r</c>, of requests whose unattributed records <c>$owner</c> may read.</summary>
    private static string UnattributedOfTree(bool descendants) =>
        $"request IN (SELECT key FROM requests WHERE ({(descendants ? TreeMembers.OfTree : TreeMembers.OfRequest)}) AND (owner IS NULL OR owner = $owner))";

    /// <summary>
    /// Runs a query of <see cref="SelectColumns"/> on SQLite's own statement API: a long request's full read
    /// spent more time in the data reader's per-column calls than in SQLite (docs/performance.md, "Logs"). With
    /// no <paramref name="requestId"/>, each row names its request in a last column (<see cref="RequestIdColumn"/>).
    /// </summary>
    private static List<LogEntry> ReadEntries(SqliteReaderPool.Lease reader, string sql, SqliteParameterCollection parameters, string? requestId, int expected, CancellationToken cancellationToken)
    {
        var statement = reader.Statements.Rent(sql);
        try
        {
            return ReadEntries(statement, reader.Connection.Handle!, parameters, requestId, expected, cancellationToken);
        }
        finally
        {
            reader.Statements.Return(sql, statement);
        }
    }

    private static List<LogEntry> ReadEntries(sqlite3_stmt statement, sqlite3 db, SqliteParameterCollection parameters, string? requestId, int expected, CancellationToken cancellationToken)
    {
        Bind(statement, parameters, db);
        var records = new List<LogEntry>(Math.Min(expected, 1024));
        var services = new List<(byte[] Utf8, string Name)>();
        int rc;
        while ((rc = raw.sqlite3_step(statement)) == raw.SQLITE_ROW)
        {
            if ((records.Count & 1023) == 1023)
            {
                cancellationToken.ThrowIfCancellationRequested();
            }

            records.Add(ReadEntry(statement, requestId ?? Text(statement, 8)!, services));
        }

        if (rc != raw.SQLITE_DONE)
        {
            SqliteException.ThrowExceptionForRC(rc, db);
        }

        return records;
    }

    private static void Bind(sqlite3_stmt statement, SqliteParameterCollection parameters, sqlite3 db)
    {
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
    }

    /// <summary>The record in the statement's current row (<see cref="SelectColumns"/>).</summary>
    private static LogEntry ReadEntry(sqlite3_stmt statement, string requestId, List<(byte[] Utf8, string Name)> services) => new(
        raw.sqlite3_column_int64(statement, 0),
        requestId,
        raw.sqlite3_column_int64(statement, 1),
        ServiceName(raw.sqlite3_column_blob(statement, 2), services),
        raw.sqlite3_column_int(statement, 3),
        Text(statement, 4)!,
        Text(statement, 5),
        Text(statement, 6),
        Text(statement, 7));

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

    private static void AddAfter(SqliteCommand cmd, StringBuilder sql, LogCursor? after)
    {
        if (after is { } a)
        {
            // SQLite reads this as a range on the index's time (ts > ?) as well as the exact condition.
            sql.Append(" AND (ts > $ats OR (ts = $ats AND id > $aid))");
            cmd.Parameters.AddWithValue("$ats", a.TimeUnixNano);
            cmd.Parameters.AddWithValue("$aid", a.Id);
        }
    }

    /// <param name="cmd">Collects the parameters.</param>
    /// <param name="sql">The statement so far, to which the conditions are added.</param>
    /// <param name="minSeverity">Records at or above this severity.</param>
    /// <param name="service">One service's records.</param>
    /// <param name="since">Records at or after this time.</param>
    /// <param name="until">Records before this time.</param>
    /// <param name="words">Words every message must have.</param>
    /// <param name="scope">The condition that selects the records read (for the text index's span of ids).</param>
    /// <param name="visibleTo">For a non-operator: the reader.</param>
    /// <param name="unattributed">
    /// A condition, of a record, true when <paramref name="visibleTo"/> may read it if it names no user: a parameter
    /// bound for each request, or a condition on its request (<see cref="TreeMembers.UnattributedVisible"/>).
    /// </param>
    private static void AddFilters(SqliteCommand cmd, StringBuilder sql, int minSeverity, string? service, long? since, long? until,
        IReadOnlyList<string>? words, string scope, string? visibleTo, string unattributed)
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
            // Bound the text index's scan to these records' span of ids: without it, a common word drags
            // every match in the store through the join (docs/performance.md, "Logs").
            sql.Append(" AND id IN (SELECT rowid FROM text.records_fts WHERE records_fts MATCH $q AND rowid BETWEEN ")
               .Append("(SELECT min(id) FROM records WHERE ").Append(scope).Append(") AND (SELECT max(id) FROM records WHERE ").Append(scope).Append("))");
            cmd.Parameters.AddWithValue("$q", Fts5AllWords(words));
        }

        if (visibleTo is not null)
        {
            // A record written for someone else is never theirs to read; nor is one that names nobody in a request
            // that someone else owns.
            sql.Append(" AND (enduser = $owner OR (enduser IS NULL AND ").Append(unattributed).Append("))");
            cmd.Parameters.AddWithValue("$owner", visibleTo);
        }
    }

    /// <summary>Every word as a quoted FTS5 phrase (quotes doubled), all required: user text is never FTS5 syntax.</summary>
    private static string Fts5AllWords(IReadOnlyList<string> words) =>
        string.Join(' ', words.Select(w => "\"" + w.Replace("\"", "\"\"", StringComparison.Ordinal) + "\""));
}
