using System.Globalization;
using System.Text;
using Microsoft.Data.Sqlite;

namespace Shoppe.Logs.Storage;

/// <summary>
/// The embedded store: one SQLite file in WAL mode with <c>synchronous=FULL</c> (an acknowledged batch
/// survives a crash), an index on the request id (entries in arrival order; a request's records are
/// sorted by time when read), and an FTS5 index over messages for text search. One writer, group
/// commits; readers never block it. The index is deliberately the request id alone: adding the time to
/// it, or a second index on time, cost a quarter of the ingest rate (docs/performance.md, "Logs").
/// </summary>
public sealed class SqliteLogStore : ILogStore, IDisposable
{
    private const string Schema = """
        PRAGMA journal_mode = WAL;
        CREATE TABLE IF NOT EXISTS request_owners (
            request_id TEXT PRIMARY KEY,
            owner TEXT,
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
        CREATE INDEX IF NOT EXISTS records_of_request ON records (request_id);
        CREATE VIRTUAL TABLE IF NOT EXISTS records_fts USING fts5 (message, content = 'records', content_rowid = 'id');
        CREATE TABLE IF NOT EXISTS text_index (indexed_up_to INTEGER NOT NULL);
        INSERT INTO text_index SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM text_index);
        """;

    /// <summary>
    /// Messages are added to the text index in chunks of at least this many records (or before any text
    /// query): FTS5 writes a segment per transaction, so indexing each 512-record export on its own cost
    /// most of the ingest time (docs/performance.md, "Logs").
    /// </summary>
    private const int TextIndexChunk = 65_536;

    private readonly string _connectionString;
    private readonly SemaphoreSlim _writer = new(1, 1);
    private readonly System.Threading.Channels.Channel<PendingBatch> _pending =
        System.Threading.Channels.Channel.CreateUnbounded<PendingBatch>(new System.Threading.Channels.UnboundedChannelOptions { SingleReader = true });
    private readonly Task _writeLoop;

    /// <summary>Opens (creating if needed) the store at <paramref name="path"/>.</summary>
    public SqliteLogStore(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            // The store keeps its own open readers (RentReader): a connection's page cache is what makes a
            // long request's read fast, and re-applying the pragmas to a pooled connection threw it away
            // (a 10k-record read: 35 ms against 14 ms on a kept connection; docs/performance.md, "Logs").
            Pooling = false,
        }.ToString();
        using var connection = Open();
        Execute(connection, Schema);
        Path = path;
        _writeLoop = Task.Run(WriteLoopAsync);
    }

    /// <summary>The database file.</summary>
    public string Path { get; }

    /// <inheritdoc />
    /// <remarks>
    /// Group commit: batches that arrive while the writer is busy are written together in one transaction,
    /// and each caller is answered once that transaction is durable. Every page of the (request, time)
    /// index touched by a commit is rewritten, so a few large commits cost far less than many small ones:
    /// 512-record commits managed a third of the rate of 4096-record ones (docs/performance.md, "Logs").
    /// </remarks>
    public async Task AppendAsync(IReadOnlyList<LogRecordRow> records, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(records);
        if (records.Count == 0)
        {
            return;
        }

        var pending = new PendingBatch(records, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        ObjectDisposedException.ThrowIf(!_pending.Writer.TryWrite(pending), this);

        await pending.Done.Task.WaitAsync(cancellationToken);
    }

    /// <summary>What the writer has done: commits, records and time spent writing (for the benchmark and metrics).</summary>
    public WriterStats Stats { get; } = new();

    /// <summary>Counters of the single writer.</summary>
    public sealed class WriterStats
    {
        public long Commits { get; internal set; }

        public long Records { get; internal set; }

        public TimeSpan WriteTime { get; internal set; }
    }

    /// <summary>Below this many records a busy writer lingers for more before committing.</summary>
    private const int LingerBelowRecords = 4096;

    /// <summary>How long it lingers: a couple of milliseconds of latency for much larger commits.</summary>
    private static readonly TimeSpan GroupLinger = TimeSpan.FromMilliseconds(2);

    private int _lastGroupRecords;

    /// <summary>The most records one group commit takes.</summary>
    private const int MaxGroupRecords = 32_768;

    private sealed record PendingBatch(IReadOnlyList<LogRecordRow> Records, TaskCompletionSource Done);

    private async Task WriteLoopAsync()
    {
        var group = new List<PendingBatch>();
        var reader = _pending.Reader;
        while (await reader.WaitToReadAsync())
        {
            group.Clear();
            var count = 0;
            while (count < MaxGroupRecords && reader.TryRead(out var batch))
            {
                group.Add(batch);
                count += batch.Records.Count;
            }

            // A small group under load: linger a moment so the exporters just answered can send their next
            // batch into this commit (GroupLinger, chosen by the logs benchmark).
            if (count < LingerBelowRecords && _lastGroupRecords >= LingerBelowRecords / 4)
            {
                await Task.Delay(GroupLinger);
                while (count < MaxGroupRecords && reader.TryRead(out var batch))
                {
                    group.Add(batch);
                    count += batch.Records.Count;
                }
            }

            _lastGroupRecords = count;

            await _writer.WaitAsync();
            try
            {
                var started = System.Diagnostics.Stopwatch.GetTimestamp();
                WriteGroup(group);
                Stats.Commits++;
                Stats.Records += count;
                Stats.WriteTime += System.Diagnostics.Stopwatch.GetElapsedTime(started);
                foreach (var batch in group)
                {
                    batch.Done.TrySetResult();
                }
            }
            catch (Exception ex)
            {
                // A failed group leaves the writer in an unknown state: start afresh from what is committed.
                _writerState?.Dispose();
                _writerState = null;
                foreach (var batch in group)
                {
                    batch.Done.TrySetException(ex);
                }
            }
            finally
            {
                _writer.Release();
            }
        }
    }

    private void WriteGroup(List<PendingBatch> group)
    {
        var writer = Writer();
        using var tx = writer.Connection.BeginTransaction();
        writer.Insert.Transaction = tx;
        // The only writer assigns ids itself: no round trip per row to learn the id the text index needs.
        var id = writer.NextId;
        // Arrival order, not sorted by request: retention deletes the oldest arrivals first and relies on
        // ids following time (sorting a group by request read a long request faster but broke that).
        foreach (var r in group.SelectMany(b => b.Records))
        {
            {
                var p = writer.Insert.Parameters;
                p[0].Value = id++;
                p[1].Value = r.RequestId;
                p[2].Value = r.TimeUnixNano;
                p[3].Value = r.Service;
                p[4].Value = r.Severity;
                p[5].Value = r.Message;
                p[6].Value = (object?)r.AttributesJson ?? DBNull.Value;
                p[7].Value = (object?)r.TraceId ?? DBNull.Value;
                p[8].Value = (object?)r.SpanId ?? DBNull.Value;
                p[9].Value = (object?)r.EndUser ?? DBNull.Value;
                writer.Insert.ExecuteNonQuery();
            }
        }

        if (id - 1 - writer.IndexedUpTo >= TextIndexChunk)
        {
            IndexText(writer, tx, id - 1);
        }

        UpsertRequests(writer.Connection, tx, group.SelectMany(b => b.Records));
        tx.Commit();
        writer.NextId = id;
        writer.IndexedUpTo = writer.PendingIndexedUpTo;
    }

    /// <summary>The single writer's connection and prepared statements, kept open between batches.</summary>
    private sealed class WriterState : IDisposable
    {
        public required SqliteConnection Connection { get; init; }

        public required SqliteCommand Insert { get; init; }

        public required SqliteCommand IndexText { get; init; }

        public long NextId { get; set; }

        /// <summary>Every record with an id up to this one is in the text index (committed).</summary>
        public long IndexedUpTo { get; set; }

        /// <summary>What <see cref="IndexedUpTo"/> becomes when the current transaction commits.</summary>
        public long PendingIndexedUpTo { get; set; }

        public void Dispose()
        {
            Insert.Dispose();
            IndexText.Dispose();
            Connection.Dispose();
        }
    }

    private WriterState? _writerState;

    private static void IndexText(WriterState writer, SqliteTransaction tx, long upTo)
    {
        writer.IndexText.Transaction = tx;
        writer.IndexText.Parameters[0].Value = writer.IndexedUpTo;
        writer.IndexText.Parameters[1].Value = upTo;
        writer.IndexText.ExecuteNonQuery();
        writer.PendingIndexedUpTo = upTo;
    }

    /// <summary>Brings the text index up to the last stored record (before a text query).</summary>
    private async Task CatchUpTextIndexAsync(CancellationToken cancellationToken)
    {
        await _writer.WaitAsync(cancellationToken);
        try
        {
            var writer = Writer();
            if (writer.IndexedUpTo >= writer.NextId - 1)
            {
                return;
            }

            using var tx = writer.Connection.BeginTransaction();
            IndexText(writer, tx, writer.NextId - 1);
            tx.Commit();
            writer.IndexedUpTo = writer.PendingIndexedUpTo;
        }
        finally
        {
            _writer.Release();
        }
    }

    private WriterState Writer()
    {
        if (_writerState is not null)
        {
            return _writerState;
        }

        var connection = Open();
        var insert = connection.CreateCommand();
        insert.CommandText = """
            INSERT INTO records (id, request_id, ts, service, severity, message, attributes, trace_id, span_id, enduser)
            VALUES ($id, $r, $ts, $svc, $sev, $msg, $attr, $trace, $span, $user)
            """;
        foreach (var (name, type) in new[] { ("$id", SqliteType.Integer), ("$r", SqliteType.Text), ("$ts", SqliteType.Integer), ("$svc", SqliteType.Text),
                     ("$sev", SqliteType.Integer), ("$msg", SqliteType.Text), ("$attr", SqliteType.Text), ("$trace", SqliteType.Text),
                     ("$span", SqliteType.Text), ("$user", SqliteType.Text) })
        {
            insert.Parameters.Add(name, type);
        }

        var indexText = connection.CreateCommand();
        indexText.CommandText = """
            INSERT INTO records_fts (rowid, message) SELECT id, message FROM records WHERE id > $from AND id <= $to;
            UPDATE text_index SET indexed_up_to = $to;
            """;
        indexText.Parameters.Add("$from", SqliteType.Integer);
        indexText.Parameters.Add("$to", SqliteType.Integer);
        using var state = connection.CreateCommand();
        state.CommandText = "SELECT coalesce((SELECT max(id) FROM records), 0) + 1, (SELECT indexed_up_to FROM text_index)";
        using var reader = state.ExecuteReader();
        reader.Read();
        _writerState = new WriterState
        {
            Connection = connection,
            Insert = insert,
            IndexText = indexText,
            NextId = reader.GetInt64(0),
            IndexedUpTo = reader.GetInt64(1),
            PendingIndexedUpTo = reader.GetInt64(1),
        };
        return _writerState;
    }

    /// <summary>
    /// What the writer knows is already stored of each recent request (owner set, finished), so a batch
    /// writes a request's row only when something about it is new. Bounded; forgetting only costs a write.
    /// </summary>
    private readonly Dictionary<string, (bool HasOwner, bool Finished)> _knownRequests = new(StringComparer.Ordinal);

    private const int MaxKnownRequests = 200_000;

    private void UpsertRequests(SqliteConnection connection, SqliteTransaction tx, IEnumerable<LogRecordRow> records)
    {
        // The first user seen becomes the owner and stays so; a request once finished stays finished.
        var changed = new Dictionary<string, (string? Owner, bool Finished)>(StringComparer.Ordinal);
        foreach (var r in records)
        {
            if (r.RequestId.Length == 0)
            {
                continue;
            }

            var known = _knownRequests.TryGetValue(r.RequestId, out var k) ? k : ((bool HasOwner, bool Finished)?)null;
            var pending = changed.TryGetValue(r.RequestId, out var c) ? c : ((string? Owner, bool Finished)?)null;
            var needsOwner = r.EndUser is not null && known?.HasOwner != true && pending?.Owner is null;
            var needsFinish = r.FinishesRequest && known?.Finished != true && pending?.Finished != true;
            if (known is null || needsOwner || needsFinish)
            {
                changed[r.RequestId] = (pending?.Owner ?? r.EndUser, (pending?.Finished ?? false) || r.FinishesRequest);
            }
        }

        if (changed.Count == 0)
        {
            return;
        }

        using var upsert = connection.CreateCommand();
        upsert.Transaction = tx;
        upsert.CommandText = """
            INSERT INTO request_owners (request_id, owner, finished) VALUES ($r, $o, $done)
            ON CONFLICT (request_id) DO UPDATE SET
                owner = coalesce(request_owners.owner, excluded.owner),
                finished = max(request_owners.finished, excluded.finished)
            RETURNING owner IS NOT NULL, finished
            """;
        var pR = upsert.Parameters.Add("$r", SqliteType.Text);
        var pO = upsert.Parameters.Add("$o", SqliteType.Text);
        var pDone = upsert.Parameters.Add("$done", SqliteType.Integer);
        if (_knownRequests.Count + changed.Count > MaxKnownRequests)
        {
            _knownRequests.Clear();
        }

        foreach (var (id, seen) in changed)
        {
            pR.Value = id;
            pO.Value = (object?)seen.Owner ?? DBNull.Value;
            pDone.Value = seen.Finished ? 1 : 0;
            using var reader = upsert.ExecuteReader();
            reader.Read();
            _knownRequests[id] = (reader.GetInt64(0) != 0, reader.GetInt64(1) != 0);
        }
    }

    /// <inheritdoc />
    public async Task<RequestInfo?> GetRequestAsync(string requestId, CancellationToken cancellationToken)
    {
        using var lease = RentReader();
        var connection = lease.Connection;
        using var cmd = connection.CreateCommand();
        // First and last times come from the (request, time) index: two seeks, nothing to keep up to date.
        cmd.CommandText = """
            SELECT owner, finished,
                (SELECT min(ts) FROM records WHERE request_id = $r),
                (SELECT max(ts) FROM records WHERE request_id = $r)
            FROM request_owners WHERE request_id = $r
            """;
        cmd.Parameters.AddWithValue("$r", requestId);
        using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) && !reader.IsDBNull(2)
            ? new RequestInfo(requestId, reader.IsDBNull(0) ? null : reader.GetString(0), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(1) != 0)
            : null;
    }

    /// <inheritdoc />
    public async Task<LogPage> QueryAsync(LogQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.Words is not null)
        {
            await CatchUpTextIndexAsync(cancellationToken);
        }

        using var lease = RentReader();
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
    public async Task<RequestSummary> SummarizeAsync(RequestInfo request, string? visibleTo, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var requestId = request.RequestId;
        using var lease = RentReader();
        var connection = lease.Connection;
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
            var sql = new StringBuilder(SelectEntries);
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
        // Records arrive roughly in time order, so age retention works from the oldest arrival and stops at
        // the first young one; a late record with an old time goes when it reaches the head.
        while (!cancellationToken.IsCancellationRequested && await OldestArrivalIsBeforeAsync(cutoffUnixNano, cancellationToken))
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

    private async Task<bool> OldestArrivalIsBeforeAsync(long cutoffUnixNano, CancellationToken cancellationToken)
    {
        using var lease = RentReader();
        var connection = lease.Connection;
        using var cmd = connection.CreateCommand();
        cmd.CommandText = "SELECT ts FROM records ORDER BY id LIMIT 1";
        return await cmd.ExecuteScalarAsync(cancellationToken) is long ts && ts < cutoffUnixNano;
    }

    /// <summary>How many records the store holds.</summary>
    public async Task<long> CountAsync(CancellationToken cancellationToken)
    {
        using var lease = RentReader();
        var connection = lease.Connection;
        using var cmd = connection.CreateCommand();
        cmd.CommandText = "SELECT count(*) FROM records";
        return Convert.ToInt64(await cmd.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
    }

    /// <summary>Bytes the store's pages hold (free pages not counted).</summary>
    public long UsedBytes()
    {
        using var lease = RentReader();
        var connection = lease.Connection;
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
                INSERT INTO doomed SELECT id, message, request_id FROM records WHERE ts < $before ORDER BY id LIMIT $chunk;
                INSERT INTO records_fts (records_fts, rowid, message) SELECT 'delete', id, message FROM doomed
                    WHERE id <= (SELECT indexed_up_to FROM text_index);
                DELETE FROM records WHERE id IN (SELECT id FROM doomed);
                DELETE FROM request_owners WHERE request_id IN (SELECT DISTINCT request_id FROM doomed)
                    AND NOT EXISTS (SELECT 1 FROM records WHERE records.request_id = request_owners.request_id);
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
            // Bound the text index's scan to this request's span of ids (two index seeks): without it, a
            // common word drags every match in the store through the join (docs/performance.md, "Logs").
            sql.Append(" AND id IN (SELECT rowid FROM records_fts WHERE records_fts MATCH $q AND rowid BETWEEN ")
               .Append("(SELECT min(id) FROM records WHERE request_id = $r) AND (SELECT max(id) FROM records WHERE request_id = $r))");
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

    /// <summary>A request's records, in the column order <see cref="ReadEntry"/> reads.</summary>
    private const string SelectEntries =
        "SELECT id, ts, service, severity, message, attributes, trace_id, span_id FROM records WHERE request_id = $r";

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

    private readonly System.Collections.Concurrent.ConcurrentBag<SqliteConnection> _readers = [];

    /// <summary>The most idle readers kept open.</summary>
    private const int MaxIdleReaders = 16;

    private ReaderLease RentReader() => new(this, _readers.TryTake(out var connection) ? connection : Open());

    private readonly struct ReaderLease(SqliteLogStore store, SqliteConnection connection) : IDisposable
    {
        public SqliteConnection Connection => connection;

        public void Dispose()
        {
            if (store._readers.Count < MaxIdleReaders && !store._disposed)
            {
                store._readers.Add(connection);
            }
            else
            {
                connection.Dispose();
            }
        }
    }

    private volatile bool _disposed;

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        // Per connection: FULL makes each commit durable before the writer acknowledges the batch.
        // 64 MiB of page cache: the (request, time) index takes random inserts, and SQLite's default 2 MiB
        // cache made ingest fall off once the index outgrew it (docs/performance.md, "Logs").
        Execute(connection, "PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000; PRAGMA cache_size = -65536; PRAGMA wal_autocheckpoint = 16384; PRAGMA mmap_size = 4294967296;");
        return connection;
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var cmd = connection.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        // Whatever was queued is still written before the store closes.
        _pending.Writer.TryComplete();
        _writeLoop.GetAwaiter().GetResult();
        _writerState?.Dispose();
        _disposed = true;
        while (_readers.TryTake(out var reader))
        {
            reader.Dispose();
        }

        _writer.Dispose();
    }
}
