using System.Globalization;
using System.Text;
using Microsoft.Data.Sqlite;

namespace Shoppe.Logs.Storage;

/// <summary>
/// The embedded store: one SQLite file in WAL mode with <c>synchronous=FULL</c> (an acknowledged batch
/// survives a crash), an index on (request id, time, id) for a request's records in order, and an FTS5
/// index over messages for text search. One writer at a time; readers never block it.
/// </summary>
public sealed class SqliteLogStore : ILogStore, IDisposable
{
    private const string Schema = """
        PRAGMA journal_mode = WAL;
        CREATE TABLE IF NOT EXISTS requests (
            request_id TEXT PRIMARY KEY,
            owner TEXT,
            first_seen INTEGER NOT NULL,
            last_seen INTEGER NOT NULL,
            finished INTEGER NOT NULL DEFAULT 0
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS records (
            id INTEGER PRIMARY KEY,
            request_id TEXT NOT NULL,
            ts INTEGER NOT NULL,
            service TEXT NOT NULL,
            severity INTEGER NOT NULL,
            message TEXT NOT NULL,
            attributes TEXT,
            trace_id TEXT,
            span_id TEXT,
            enduser TEXT
        );
        CREATE INDEX IF NOT EXISTS records_by_request ON records (request_id, ts, id);
        CREATE INDEX IF NOT EXISTS records_by_time ON records (ts);
        CREATE VIRTUAL TABLE IF NOT EXISTS records_fts USING fts5 (message, content = 'records', content_rowid = 'id');
        """;

    private readonly string _connectionString;
    private readonly SemaphoreSlim _writer = new(1, 1);

    /// <summary>Opens (creating if needed) the store at <paramref name="path"/>.</summary>
    public SqliteLogStore(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
        }.ToString();
        using var connection = Open();
        Execute(connection, Schema);
        Path = path;
    }

    /// <summary>The database file.</summary>
    public string Path { get; }

    /// <inheritdoc />
    public async Task AppendAsync(IReadOnlyList<LogRecordRow> records, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(records);
        if (records.Count == 0)
        {
            return;
        }

        await _writer.WaitAsync(cancellationToken);
        try
        {
            using var connection = Open();
            using var tx = connection.BeginTransaction();
            using var insert = connection.CreateCommand();
            insert.Transaction = tx;
            insert.CommandText = """
                INSERT INTO records (request_id, ts, service, severity, message, attributes, trace_id, span_id, enduser)
                VALUES ($r, $ts, $svc, $sev, $msg, $attr, $trace, $span, $user) RETURNING id
                """;
            var pR = insert.Parameters.Add("$r", SqliteType.Text);
            var pTs = insert.Parameters.Add("$ts", SqliteType.Integer);
            var pSvc = insert.Parameters.Add("$svc", SqliteType.Text);
            var pSev = insert.Parameters.Add("$sev", SqliteType.Integer);
            var pMsg = insert.Parameters.Add("$msg", SqliteType.Text);
            var pAttr = insert.Parameters.Add("$attr", SqliteType.Text);
            var pTrace = insert.Parameters.Add("$trace", SqliteType.Text);
            var pSpan = insert.Parameters.Add("$span", SqliteType.Text);
            var pUser = insert.Parameters.Add("$user", SqliteType.Text);
            insert.Prepare();

            using var fts = connection.CreateCommand();
            fts.Transaction = tx;
            fts.CommandText = "INSERT INTO records_fts (rowid, message) VALUES ($id, $msg)";
            var fId = fts.Parameters.Add("$id", SqliteType.Integer);
            var fMsg = fts.Parameters.Add("$msg", SqliteType.Text);
            fts.Prepare();

            foreach (var r in records)
            {
                pR.Value = r.RequestId;
                pTs.Value = r.TimeUnixNano;
                pSvc.Value = r.Service;
                pSev.Value = r.Severity;
                pMsg.Value = r.Message;
                pAttr.Value = (object?)r.AttributesJson ?? DBNull.Value;
                pTrace.Value = (object?)r.TraceId ?? DBNull.Value;
                pSpan.Value = (object?)r.SpanId ?? DBNull.Value;
                pUser.Value = (object?)r.EndUser ?? DBNull.Value;
                var id = (long)insert.ExecuteScalar()!;
                fId.Value = id;
                fMsg.Value = r.Message;
                fts.ExecuteNonQuery();
            }

            UpsertRequests(connection, tx, records);
            tx.Commit();
        }
        finally
        {
            _writer.Release();
        }
    }

    private static void UpsertRequests(SqliteConnection connection, SqliteTransaction tx, IReadOnlyList<LogRecordRow> records)
    {
        // One row per request in the batch: the first user seen becomes the owner and stays so.
        var byRequest = new Dictionary<string, (string? Owner, long First, long Last, bool Finished)>(StringComparer.Ordinal);
        foreach (var r in records)
        {
            if (r.RequestId.Length == 0)
            {
                continue;
            }

            byRequest[r.RequestId] = byRequest.TryGetValue(r.RequestId, out var seen)
                ? (seen.Owner ?? r.EndUser, Math.Min(seen.First, r.TimeUnixNano), Math.Max(seen.Last, r.TimeUnixNano), seen.Finished || r.FinishesRequest)
                : (r.EndUser, r.TimeUnixNano, r.TimeUnixNano, r.FinishesRequest);
        }

        using var upsert = connection.CreateCommand();
        upsert.Transaction = tx;
        upsert.CommandText = """
            INSERT INTO requests (request_id, owner, first_seen, last_seen, finished) VALUES ($r, $o, $f, $l, $done)
            ON CONFLICT (request_id) DO UPDATE SET
                owner = coalesce(requests.owner, excluded.owner),
                first_seen = min(requests.first_seen, excluded.first_seen),
                last_seen = max(requests.last_seen, excluded.last_seen),
                finished = max(requests.finished, excluded.finished)
            """;
        var pR = upsert.Parameters.Add("$r", SqliteType.Text);
        var pO = upsert.Parameters.Add("$o", SqliteType.Text);
        var pF = upsert.Parameters.Add("$f", SqliteType.Integer);
        var pL = upsert.Parameters.Add("$l", SqliteType.Integer);
        var pDone = upsert.Parameters.Add("$done", SqliteType.Integer);
        foreach (var (id, seen) in byRequest)
        {
            pR.Value = id;
            pO.Value = (object?)seen.Owner ?? DBNull.Value;
            pF.Value = seen.First;
            pL.Value = seen.Last;
            pDone.Value = seen.Finished ? 1 : 0;
            upsert.ExecuteNonQuery();
        }
    }

    /// <inheritdoc />
    public async Task<RequestInfo?> GetRequestAsync(string requestId, CancellationToken cancellationToken)
    {
        using var connection = Open();
        using var cmd = connection.CreateCommand();
        cmd.CommandText = "SELECT owner, first_seen, last_seen, finished FROM requests WHERE request_id = $r";
        cmd.Parameters.AddWithValue("$r", requestId);
        using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? new RequestInfo(requestId, reader.IsDBNull(0) ? null : reader.GetString(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3) != 0)
            : null;
    }

    /// <inheritdoc />
    public async Task<LogPage> QueryAsync(LogQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        using var connection = Open();
        using var cmd = connection.CreateCommand();
        var sql = new StringBuilder(
            "SELECT id, ts, service, severity, message, attributes, trace_id, span_id FROM records WHERE request_id = $r");
        cmd.Parameters.AddWithValue("$r", query.RequestId);
        AddFilters(cmd, sql, query.MinSeverity, query.Service, query.SinceUnixNano, query.UntilUnixNano, query.Text, query.VisibleTo);
        if (query.After is { } after)
        {
            sql.Append(" AND (ts > $ats OR (ts = $ats AND id > $aid))");
            cmd.Parameters.AddWithValue("$ats", after.TimeUnixNano);
            cmd.Parameters.AddWithValue("$aid", after.Id);
        }

        // One more than asked tells whether another page follows.
        sql.Append(" ORDER BY ts, id LIMIT $limit");
        cmd.Parameters.AddWithValue("$limit", query.Limit + 1);
        cmd.CommandText = sql.ToString();

        var records = new List<LogEntry>(Math.Min(query.Limit + 1, 1024));
        using (var reader = await cmd.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                records.Add(ReadEntry(reader, query.RequestId));
            }
        }

        if (records.Count > query.Limit)
        {
            records.RemoveAt(records.Count - 1);
            return new LogPage(records, records[^1].Cursor);
        }

        return new LogPage(records, null);
    }

    /// <inheritdoc />
    public async Task<RequestSummary?> SummarizeAsync(string requestId, string? visibleTo, CancellationToken cancellationToken)
    {
        var request = await GetRequestAsync(requestId, cancellationToken);
        if (request is null)
        {
            return null;
        }

        using var connection = Open();
        var byLevel = new SortedDictionary<string, long>(StringComparer.Ordinal);
        var byService = new SortedDictionary<string, long>(StringComparer.Ordinal);
        long total = 0;
        using (var cmd = connection.CreateCommand())
        {
            var sql = new StringBuilder("SELECT service, severity, count(*) FROM records WHERE request_id = $r");
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
            var sql = new StringBuilder("SELECT id, ts, service, severity, message, attributes, trace_id, span_id FROM records WHERE request_id = $r");
            cmd.Parameters.AddWithValue("$r", requestId);
            AddFilters(cmd, sql, 17, null, null, null, null, visibleTo);
            sql.Append(" ORDER BY ts, id LIMIT 1");
            cmd.CommandText = sql.ToString();
            using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
            firstError = await reader.ReadAsync(cancellationToken) ? ReadEntry(reader, requestId) : null;
        }

        return new RequestSummary(request, total, byLevel, byService, firstError);
    }

    /// <summary>
    /// Deletes records older than <paramref name="cutoffUnixNano"/>, then the oldest while the store is over
    /// <paramref name="maxBytes"/>, in bounded chunks so ingest is never blocked for long.
    /// </summary>
    /// <returns>How many records were deleted.</returns>
    public async Task<long> EnforceRetentionAsync(long cutoffUnixNano, long maxBytes, CancellationToken cancellationToken)
    {
        const int chunk = 10_000;
        long deleted = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            var n = await DeleteOldestAsync(chunk, cutoffUnixNano, cancellationToken);
            deleted += n;
            if (n < chunk)
            {
                break;
            }
        }

        // Over the size limit: deleting rows frees space inside pages long before whole pages come free,
        // so the page count is no measure of progress. Estimate the bytes a record takes, delete enough of
        // the oldest to get under the limit, and let the next run correct any misestimate.
        var used = UsedBytes();
        if (used > maxBytes)
        {
            var count = await CountAsync(cancellationToken);
            var toDelete = count == 0 ? 0 : (long)Math.Ceiling((used - maxBytes) / ((double)used / count));
            while (toDelete > 0 && !cancellationToken.IsCancellationRequested)
            {
                var n = await DeleteOldestAsync((int)Math.Min(chunk, toDelete), long.MaxValue, cancellationToken);
                deleted += n;
                toDelete -= n;
                if (n == 0)
                {
                    break;
                }
            }
        }

        return deleted;
    }

    /// <summary>How many records the store holds.</summary>
    public async Task<long> CountAsync(CancellationToken cancellationToken)
    {
        using var connection = Open();
        using var cmd = connection.CreateCommand();
        cmd.CommandText = "SELECT count(*) FROM records";
        return Convert.ToInt64(await cmd.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
    }

    /// <summary>Bytes the store's pages hold (free pages not counted).</summary>
    public long UsedBytes()
    {
        using var connection = Open();
        using var cmd = connection.CreateCommand();
        cmd.CommandText = "SELECT (SELECT page_count FROM pragma_page_count()) - (SELECT freelist_count FROM pragma_freelist_count()), (SELECT page_size FROM pragma_page_size())";
        using var reader = cmd.ExecuteReader();
        reader.Read();
        return reader.GetInt64(0) * reader.GetInt64(1);
    }

    private async Task<long> DeleteOldestAsync(int chunk, long beforeUnixNano, CancellationToken cancellationToken)
    {
        await _writer.WaitAsync(cancellationToken);
        try
        {
            using var connection = Open();
            using var tx = connection.BeginTransaction();
            using var cmd = connection.CreateCommand();
            cmd.Transaction = tx;
            // External-content FTS5 rows are removed with the 'delete' command and the old values.
            cmd.CommandText = """
                CREATE TEMP TABLE IF NOT EXISTS doomed (id INTEGER PRIMARY KEY, message TEXT, request_id TEXT);
                DELETE FROM doomed;
                INSERT INTO doomed SELECT id, message, request_id FROM records WHERE ts < $before ORDER BY ts LIMIT $chunk;
                INSERT INTO records_fts (records_fts, rowid, message) SELECT 'delete', id, message FROM doomed;
                DELETE FROM records WHERE id IN (SELECT id FROM doomed);
                DELETE FROM requests WHERE request_id IN (SELECT DISTINCT request_id FROM doomed)
                    AND NOT EXISTS (SELECT 1 FROM records WHERE records.request_id = requests.request_id);
                SELECT count(*) FROM doomed;
                """;
            cmd.Parameters.AddWithValue("$before", beforeUnixNano);
            cmd.Parameters.AddWithValue("$chunk", chunk);
            var n = Convert.ToInt64(await cmd.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
            tx.Commit();
            return n;
        }
        finally
        {
            _writer.Release();
        }
    }

    private static void AddFilters(SqliteCommand cmd, StringBuilder sql, int minSeverity, string? service, long? since, long? until, string? text, string? visibleTo)
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

        if (text is not null)
        {
            sql.Append(" AND id IN (SELECT rowid FROM records_fts WHERE records_fts MATCH $q)");
            cmd.Parameters.AddWithValue("$q", text);
        }

        if (visibleTo is not null)
        {
            // A record written for someone else under this request id is not the owner's to read.
            sql.Append(" AND (enduser IS NULL OR enduser = $owner)");
            cmd.Parameters.AddWithValue("$owner", visibleTo);
        }
    }

    private static LogEntry ReadEntry(SqliteDataReader reader, string requestId) => new(
        reader.GetInt64(0),
        requestId,
        reader.GetInt64(1),
        reader.GetString(2),
        reader.GetInt32(3),
        reader.GetString(4),
        reader.IsDBNull(5) ? null : reader.GetString(5),
        reader.IsDBNull(6) ? null : reader.GetString(6),
        reader.IsDBNull(7) ? null : reader.GetString(7));

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        // Per connection: FULL makes each commit durable before the writer acknowledges the batch.
        Execute(connection, "PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = OFF;");
        return connection;
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var cmd = connection.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    /// <inheritdoc />
    public void Dispose() => _writer.Dispose();
}
