using System.Globalization;
using System.Text;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Shoppe.Logs.Storage;

/// <summary>
/// The embedded store: one SQLite file of records in WAL mode with <c>synchronous=FULL</c> (an acknowledged
/// batch survives a crash), indexed on (request, time); and a second file holding the FTS5 text index of the
/// messages, kept up to date by its own writer so that text indexing runs beside ingest rather than inside it.
/// Requests are numbered as they first arrive and records carry the number, not the 32-character id: the
/// index entries are a fifth of the size (docs/performance.md, "Logs"). One writer per file, group commits;
/// readers never block them.
/// </summary>
public sealed class SqliteLogStore : ILogStore, IDisposable
{
    /// <summary>The layout this code writes (<c>PRAGMA user_version</c>); 0 is the first layout, migrated on open.</summary>
    private const int LayoutVersion = 2;

    private const string Schema = """
        PRAGMA journal_mode = WAL;
        CREATE TABLE IF NOT EXISTS requests (
            key INTEGER PRIMARY KEY,
            request_id TEXT NOT NULL UNIQUE,
            owner TEXT,
            finished INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE IF NOT EXISTS records (
            id INTEGER PRIMARY KEY,
            request INTEGER NOT NULL,
            ts INTEGER NOT NULL,
            service TEXT NOT NULL,
            severity INTEGER NOT NULL,
            message TEXT NOT NULL,
            attributes TEXT,
            trace_id TEXT,
            span_id TEXT,
            enduser TEXT
        );
        CREATE INDEX IF NOT EXISTS records_of_request ON records (request, ts);
        """;

    /// <summary>
    /// The text index's own file: a contentless FTS5 table (the messages live in the records file) and how
    /// far it has got. Records up to <c>indexed_up_to</c> are in it. No per-row sizes are kept
    /// (<c>columnsize=0</c>): they serve only relevance ranking, which log search does not do, and keeping them
    /// cost the index writer 30% of its rate (docs/performance.md, "Logs").
    /// </summary>
    private const string TextSchema = """
        PRAGMA journal_mode = WAL;
        CREATE VIRTUAL TABLE IF NOT EXISTS records_fts USING fts5 (message, content = '', columnsize = 0);
        CREATE TABLE IF NOT EXISTS text_state (indexed_up_to INTEGER NOT NULL);
        INSERT INTO text_state SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM text_state);
        """;

    /// <summary>
    /// The first layout (records keyed by the request id text, the text index inside the records file) is
    /// rewritten into the current one on open: every record and owner is kept, the text index is rebuilt.
    /// </summary>
    private const string MigrateFromFirstLayout = """
        CREATE TABLE requests (key INTEGER PRIMARY KEY, request_id TEXT NOT NULL UNIQUE, owner TEXT, finished INTEGER NOT NULL DEFAULT 0);
        INSERT INTO requests (request_id, owner, finished) SELECT request_id, owner, finished FROM request_owners;
        INSERT OR IGNORE INTO requests (request_id) SELECT DISTINCT request_id FROM records;
        ALTER TABLE records RENAME TO records_v1;
        CREATE TABLE records (id INTEGER PRIMARY KEY, request INTEGER NOT NULL, ts INTEGER NOT NULL, service TEXT NOT NULL,
            severity INTEGER NOT NULL, message TEXT NOT NULL, attributes TEXT, trace_id TEXT, span_id TEXT, enduser TEXT);
        INSERT INTO records SELECT r.id, q.key, r.ts, r.service, r.severity, r.message, r.attributes, r.trace_id, r.span_id, r.enduser
            FROM records_v1 r JOIN requests q ON q.request_id = r.request_id ORDER BY r.id;
        DROP TABLE records_v1;
        DROP TABLE IF EXISTS records_fts;
        DROP TABLE IF EXISTS text_index;
        DROP TABLE request_owners;
        """;

    /// <summary>
    /// The text index takes messages in chunks of at least this many records (or everything stored, before
    /// any text query): FTS5 writes a segment per transaction, and small transactions cost most of its time.
    /// </summary>
    private const int TextIndexChunk = 65_536;

    private readonly string _connectionString;
    private readonly string _textConnectionString;
    private readonly SemaphoreSlim _writer = new(1, 1);
    private readonly SemaphoreSlim _textWriter = new(1, 1);
    private readonly System.Threading.Channels.Channel<PendingBatch> _pending =
        System.Threading.Channels.Channel.CreateUnbounded<PendingBatch>(new System.Threading.Channels.UnboundedChannelOptions { SingleReader = true });
    private readonly Task _writeLoop;
    private readonly Task _textLoop;
    private readonly CancellationTokenSource _closing = new();
    private readonly SemaphoreSlim _textWanted = new(0);
    private readonly List<(long UpTo, TaskCompletionSource Done)> _textWaiters = [];

    /// <summary>The last record id whose transaction has committed.</summary>
    private long _committedUpTo;

    /// <summary>Every record with an id up to this one is in the text index (committed).</summary>
    private long _indexedUpTo;

    /// <summary>Opens (creating or migrating if needed) the store at <paramref name="path"/>; its text index is kept beside it.</summary>
    public SqliteLogStore(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var full = System.IO.Path.GetFullPath(path);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        Path = path;
        _recordsFile = full;
        TextIndexPath = System.IO.Path.ChangeExtension(full, ".text.db");
        _connectionString = ConnectionString(path);
        _textConnectionString = ConnectionString(TextIndexPath);
        using (var connection = Open(_connectionString))
        {
            var version = Convert.ToInt32(Scalar(connection, "PRAGMA user_version"), CultureInfo.InvariantCulture);
            if (version > LayoutVersion)
            {
                throw new InvalidOperationException($"The log store {path} has layout {version}, newer than this logs service knows ({LayoutVersion}); run the newer release.");
            }

            if (version == 0 && Scalar(connection, "SELECT count(*) FROM sqlite_master WHERE name = 'request_owners'") is long and > 0)
            {
                using var tx = connection.BeginTransaction();
                Execute(connection, MigrateFromFirstLayout, tx);
                tx.Commit();
            }

            Execute(connection, Schema);
            Execute(connection, $"PRAGMA user_version = {LayoutVersion}");
            _committedUpTo = (long)Scalar(connection, "SELECT coalesce(max(id), 0) FROM records")!;
        }

        using (var text = Open(_textConnectionString))
        {
            Execute(text, TextSchema);
            _indexedUpTo = (long)Scalar(text, "SELECT indexed_up_to FROM text_state")!;
        }

        // Ids are never reused, even when retention has emptied the store: the text index may still hold them.
        _committedUpTo = Math.Max(_committedUpTo, _indexedUpTo);
        _writeLoop = Task.Run(WriteLoopAsync);
        _textLoop = Task.Run(TextIndexLoopAsync);
    }

    /// <summary>The records file.</summary>
    public string Path { get; }

    /// <summary>The records file's full path (what the text index's writer attaches).</summary>
    private readonly string _recordsFile;

    /// <summary>The text index's file, beside the records.</summary>
    public string TextIndexPath { get; }

    private static string ConnectionString(string path) => new SqliteConnectionStringBuilder
    {
        DataSource = path,
        Mode = SqliteOpenMode.ReadWriteCreate,
        // The store keeps its own open readers (RentReader): a connection's page cache is what makes a
        // long request's read fast, and re-applying the pragmas to a pooled connection threw it away
        // (a 10k-record read: 35 ms against 14 ms on a kept connection; docs/performance.md, "Logs").
        Pooling = false,
    }.ToString();

    /// <inheritdoc />
    /// <remarks>
    /// Group commit: batches that arrive while the writer is busy are written together in one transaction,
    /// and each caller is answered once that transaction is durable. Every page of the request index
    /// touched by a commit is rewritten, so a few large commits cost far less than many small ones:
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

    /// <summary>What the writers have done: commits, records and time spent writing (for the benchmark and metrics).</summary>
    public WriterStats Stats { get; } = new();

    /// <summary>Counters of the two writers.</summary>
    public sealed class WriterStats
    {
        public long Commits { get; internal set; }

        public long Records { get; internal set; }

        public TimeSpan WriteTime { get; internal set; }

        public long TextCommits { get; internal set; }

        public TimeSpan TextIndexTime { get; internal set; }
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
                _knownRequests.Clear();
                foreach (var batch in group)
                {
                    batch.Done.TrySetException(ex);
                }
            }
            finally
            {
                _writer.Release();
            }

            if (Volatile.Read(ref _committedUpTo) - Volatile.Read(ref _indexedUpTo) >= TextIndexChunk)
            {
                WakeTextIndexer();
            }
        }
    }

    private void WriteGroup(List<PendingBatch> group)
    {
        var writer = Writer();
        using var tx = writer.Connection.BeginTransaction();
        var db = writer.Connection.Handle!;
        var insert = writer.Insert;
        // The only writer assigns ids itself: no round trip per row to learn the id the text index needs.
        var id = writer.NextId;
        // Arrival order: retention deletes the oldest arrivals first and relies on ids following time.
        foreach (var batch in group)
        {
            foreach (var r in batch.Records)
            {
                var request = RequestKey(writer, r);
                // Bound straight to the prepared statement: the ADO.NET parameter layer cost more per row than
                // SQLite's own insert of it (docs/performance.md, "Logs").
                Check(raw.sqlite3_bind_int64(insert, 1, id), db);
                Check(raw.sqlite3_bind_int64(insert, 2, request), db);
                Check(raw.sqlite3_bind_int64(insert, 3, r.TimeUnixNano), db);
                BindOptional(insert, 4, r.Service, db);
                Check(raw.sqlite3_bind_int(insert, 5, r.Severity), db);
                BindOptional(insert, 6, r.Message, db);
                BindOptional(insert, 7, r.AttributesJson, db);
                BindOptional(insert, 8, r.TraceId, db);
                BindOptional(insert, 9, r.SpanId, db);
                BindOptional(insert, 10, r.EndUser, db);
                var rc = raw.sqlite3_step(insert);
                raw.sqlite3_reset(insert);
                if (rc != raw.SQLITE_DONE)
                {
                    SqliteException.ThrowExceptionForRC(rc, db);
                }

                id++;
            }
        }

        tx.Commit();
        writer.NextId = id;
        Volatile.Write(ref _committedUpTo, id - 1);
    }

    /// <summary>Binds text as UTF-16 for SQLite to convert: no UTF-8 copy made in .NET for every value.</summary>
    private static void BindOptional(sqlite3_stmt statement, int index, string? value, sqlite3 db) =>
        Check(value is null ? raw.sqlite3_bind_null(statement, index) : raw.sqlite3_bind_text16(statement, index, value.AsSpan()), db);

    private static void Check(int rc, sqlite3 db)
    {
        if (rc != raw.SQLITE_OK)
        {
            SqliteException.ThrowExceptionForRC(rc, db);
        }
    }

    /// <summary>The single writer's connection and prepared statements, kept open between batches.</summary>
    private sealed class WriterState : IDisposable
    {
        public required SqliteConnection Connection { get; init; }

        public required sqlite3_stmt Insert { get; init; }

        public required sqlite3_stmt Upsert { get; init; }

        public long NextId { get; set; }

        public void Dispose()
        {
            Insert.Dispose();
            Upsert.Dispose();
            Connection.Dispose();
        }
    }

    private WriterState? _writerState;

    private WriterState Writer()
    {
        if (_writerState is not null)
        {
            return _writerState;
        }

        var connection = Open(_connectionString);
        sqlite3_stmt? insert = null;
        try
        {
            insert = Prepare(connection, """
                INSERT INTO records (id, request, ts, service, severity, message, attributes, trace_id, span_id, enduser)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                """);
            // The first user seen becomes the owner and stays so; a request once finished stays finished.
            var upsert = Prepare(connection, """
                INSERT INTO requests (request_id, owner, finished) VALUES (?1, ?2, ?3)
                ON CONFLICT (request_id) DO UPDATE SET
                    owner = coalesce(requests.owner, excluded.owner),
                    finished = max(requests.finished, excluded.finished)
                RETURNING key, owner IS NOT NULL, finished
                """);
            _writerState = new WriterState
            {
                Connection = connection,
                Insert = insert,
                Upsert = upsert,
                NextId = Volatile.Read(ref _committedUpTo) + 1,
            };
            return _writerState;
        }
        catch
        {
            insert?.Dispose();
            connection.Dispose();
            throw;
        }
    }

    private static sqlite3_stmt Prepare(SqliteConnection connection, string sql)
    {
        var db = connection.Handle!;
        var rc = raw.sqlite3_prepare_v2(db, sql, out var statement);
        if (rc != raw.SQLITE_OK)
        {
            statement.Dispose();
            SqliteException.ThrowExceptionForRC(rc, db);
        }

        return statement;
    }

    /// <summary>
    /// What the writer knows is stored of each recent request (its number, owner set, finished), so a record
    /// touches the requests table only when something about its request is new. Bounded; forgetting costs
    /// one upsert.
    /// </summary>
    private readonly Dictionary<string, (long Key, bool HasOwner, bool Finished)> _knownRequests = new(StringComparer.Ordinal);

    private const int MaxKnownRequests = 200_000;

    private long RequestKey(WriterState writer, LogRecordRow record)
    {
        var unattached = record.RequestId.Length == 0;
        if (_knownRequests.TryGetValue(record.RequestId, out var known)
            && (unattached || ((record.EndUser is null || known.HasOwner) && (!record.FinishesRequest || known.Finished))))
        {
            return known.Key;
        }

        if (_knownRequests.Count >= MaxKnownRequests)
        {
            _knownRequests.Clear();
        }

        var upsert = writer.Upsert;
        var db = writer.Connection.Handle!;
        BindOptional(upsert, 1, record.RequestId, db);
        // Records that belong to no request are numbered together, and nobody owns them.
        BindOptional(upsert, 2, unattached ? null : record.EndUser, db);
        Check(raw.sqlite3_bind_int(upsert, 3, !unattached && record.FinishesRequest ? 1 : 0), db);
        try
        {
            var rc = raw.sqlite3_step(upsert);
            if (rc != raw.SQLITE_ROW)
            {
                SqliteException.ThrowExceptionForRC(rc, db);
            }

            var key = raw.sqlite3_column_int64(upsert, 0);
            _knownRequests[record.RequestId] = (key, raw.sqlite3_column_int(upsert, 1) != 0, raw.sqlite3_column_int(upsert, 2) != 0);
            return key;
        }
        finally
        {
            raw.sqlite3_reset(upsert);
        }
    }

    private void WakeTextIndexer()
    {
        if (_textWanted.CurrentCount == 0)
        {
            _textWanted.Release();
        }
    }

    /// <summary>
    /// The text index's writer: on its own connection to its own file, so that tokenizing messages (a third
    /// of the store's work when it shared the records' transaction) runs on another core beside ingest.
    /// </summary>
    private async Task TextIndexLoopAsync()
    {
        SqliteConnection? connection = null;
        try
        {
            while (true)
            {
                try
                {
                    await _textWanted.WaitAsync(_closing.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                await _textWriter.WaitAsync();
                try
                {
                    var upTo = Volatile.Read(ref _committedUpTo);
                    if (upTo > _indexedUpTo)
                    {
                        connection ??= OpenTextWriter();
                        var started = System.Diagnostics.Stopwatch.GetTimestamp();
                        using var tx = connection.BeginTransaction();
                        using var cmd = connection.CreateCommand();
                        cmd.Transaction = tx;
                        cmd.CommandText = """
                            INSERT INTO records_fts (rowid, message) SELECT id, message FROM store.records WHERE id > $from AND id <= $to;
                            UPDATE text_state SET indexed_up_to = $to;
                            """;
                        cmd.Parameters.AddWithValue("$from", _indexedUpTo);
                        cmd.Parameters.AddWithValue("$to", upTo);
                        cmd.ExecuteNonQuery();
                        tx.Commit();
                        Volatile.Write(ref _indexedUpTo, upTo);
                        Stats.TextCommits++;
                        Stats.TextIndexTime += System.Diagnostics.Stopwatch.GetElapsedTime(started);
                    }

                    ReleaseTextWaiters(null);
                }
                catch (Exception ex)
                {
                    connection?.Dispose();
                    connection = null;
                    ReleaseTextWaiters(ex);
                }
                finally
                {
                    _textWriter.Release();
                }
            }
        }
        finally
        {
            connection?.Dispose();
        }
    }

    /// <summary>A connection to the text index with the records attached as <c>store</c>.</summary>
    private SqliteConnection OpenTextWriter() => OpenAttached(_textConnectionString, _recordsFile, "store");

    private void ReleaseTextWaiters(Exception? failure)
    {
        lock (_textWaiters)
        {
            var indexed = Volatile.Read(ref _indexedUpTo);
            for (var i = _textWaiters.Count - 1; i >= 0; i--)
            {
                var (upTo, done) = _textWaiters[i];
                if (failure is not null)
                {
                    done.TrySetException(failure);
                }
                else if (upTo <= indexed)
                {
                    done.TrySetResult();
                }
                else
                {
                    continue;
                }

                _textWaiters.RemoveAt(i);
            }
        }
    }

    /// <summary>Brings the text index up to the last stored record (before a text query).</summary>
    private Task CatchUpTextIndexAsync(CancellationToken cancellationToken)
    {
        var upTo = Volatile.Read(ref _committedUpTo);
        if (Volatile.Read(ref _indexedUpTo) >= upTo)
        {
            return Task.CompletedTask;
        }

        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_textWaiters)
        {
            _textWaiters.Add((upTo, done));
        }

        WakeTextIndexer();
        return done.Task.WaitAsync(cancellationToken);
    }

    /// <inheritdoc />
    public async Task<RequestInfo?> GetRequestAsync(string requestId, CancellationToken cancellationToken)
    {
        using var lease = RentReader();
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

    /// <summary>
    /// Runs a <see cref="SelectEntries"/> query on SQLite's own statement API: a long request's full read
    /// spent more time in the data reader's per-column calls than in SQLite (docs/performance.md, "Logs").
    /// </summary>
    private static List<LogEntry> ReadEntries(SqliteConnection connection, string sql, SqliteParameterCollection parameters, string requestId, int expected, CancellationToken cancellationToken)
    {
        var db = connection.Handle!;
        using var statement = Prepare(connection, sql);
        foreach (SqliteParameter p in parameters)
        {
            var index = raw.sqlite3_bind_parameter_index(statement, p.ParameterName);
            Check(p.Value switch
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

    /// <summary>Bytes the store's pages hold, records and text index together (free pages not counted).</summary>
    public long UsedBytes()
    {
        using var lease = RentReader();
        var connection = lease.Connection;
        return UsedBytes(connection, "main") + UsedBytes(connection, "text");
    }

    private static long UsedBytes(SqliteConnection connection, string schema)
    {
        long Pragma(string name) => Convert.ToInt64(Scalar(connection, $"PRAGMA {schema}.{name}"), CultureInfo.InvariantCulture);
        return (Pragma("page_count") - Pragma("freelist_count")) * Pragma("page_size");
    }

    private async Task<long> DeleteOldestAsync(int chunk, long beforeUnixNano, CancellationToken cancellationToken)
    {
        // Both writers stop while the oldest records leave both files.
        await _writer.WaitAsync(cancellationToken);
        try
        {
            await _textWriter.WaitAsync(cancellationToken);
            try
            {
                using var connection = OpenReader();
                using var tx = connection.BeginTransaction();
                using var cmd = connection.CreateCommand();
                cmd.Transaction = tx;
                // Contentless FTS5 rows are removed with the 'delete' command and the values they were
                // indexed with. Each file commits on its own: a text entry left behind by a crash between the
                // two names an id no record has any more, which no query can return.
                cmd.CommandText = """
                    CREATE TEMP TABLE IF NOT EXISTS doomed (id INTEGER PRIMARY KEY, message TEXT, request INTEGER);
                    DELETE FROM doomed;
                    INSERT INTO doomed SELECT id, message, request FROM records WHERE ts < $before ORDER BY id LIMIT $chunk;
                    INSERT INTO text.records_fts (records_fts, rowid, message) SELECT 'delete', id, message FROM doomed
                        WHERE id <= (SELECT indexed_up_to FROM text.text_state);
                    DELETE FROM records WHERE id IN (SELECT id FROM doomed);
                    DELETE FROM requests WHERE key IN (SELECT DISTINCT request FROM doomed)
                        AND NOT EXISTS (SELECT 1 FROM records WHERE records.request = requests.key);
                    SELECT count(*) FROM doomed;
                    """;
                cmd.Parameters.AddWithValue("$before", beforeUnixNano);
                cmd.Parameters.AddWithValue("$chunk", chunk);
                var n = Convert.ToInt64(await cmd.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
                tx.Commit();
                // A request whose records are all gone is forgotten; one that comes back is numbered afresh.
                _knownRequests.Clear();
                return n;
            }
            finally
            {
                _textWriter.Release();
            }
        }
        finally
        {
            _writer.Release();
        }
    }

    /// <summary>The records of the request named by <c>$r</c>, found through its number.</summary>
    private const string OfRequest = "request = (SELECT key FROM requests WHERE request_id = $r)";

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

    /// <summary>A request's records, in the column order <see cref="ReadEntries"/> reads.</summary>
    private const string SelectEntries =
        "SELECT id, ts, service, severity, message, attributes, trace_id, span_id FROM records WHERE " + OfRequest;

    private readonly System.Collections.Concurrent.ConcurrentBag<SqliteConnection> _readers = [];

    /// <summary>The most idle readers kept open.</summary>
    private const int MaxIdleReaders = 16;

    private ReaderLease RentReader() => new(this, _readers.TryTake(out var connection) ? connection : OpenReader());

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

    private int _disposeStarted;

    /// <summary>A connection to the records with the text index attached as <c>text</c>.</summary>
    private SqliteConnection OpenReader() => OpenAttached(_connectionString, TextIndexPath, "text");

    /// <summary>Opens one of the store's files with the other attached under <paramref name="alias"/>.</summary>
    private static SqliteConnection OpenAttached(string connectionString, string other, string alias)
    {
        var connection = Open(connectionString);
        try
        {
            using var attach = connection.CreateCommand();
            attach.CommandText = $"ATTACH DATABASE $path AS {alias}";
            attach.Parameters.AddWithValue("$path", other);
            attach.ExecuteNonQuery();
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    private static SqliteConnection Open(string connectionString)
    {
        var connection = new SqliteConnection(connectionString);
        connection.Open();
        // Per connection: FULL makes each commit durable before the writer acknowledges the batch.
        // 64 MiB of page cache: the request index takes inserts all over its live end, and SQLite's default
        // 2 MiB cache made ingest fall off once the index outgrew it (docs/performance.md, "Logs").
        Execute(connection, "PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000; PRAGMA cache_size = -65536; PRAGMA wal_autocheckpoint = 16384; PRAGMA mmap_size = 4294967296;");
        return connection;
    }

    private static void Execute(SqliteConnection connection, string sql, SqliteTransaction? tx = null)
    {
        using var cmd = connection.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    private static object? Scalar(SqliteConnection connection, string sql)
    {
        using var cmd = connection.CreateCommand();
        cmd.CommandText = sql;
        return cmd.ExecuteScalar();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposeStarted, 1) != 0)
        {
            return;
        }

        // Whatever was queued is still written before the store closes; the text index catches up with it
        // when the store next opens (or before the next text query).
        _pending.Writer.TryComplete();
        _writeLoop.GetAwaiter().GetResult();
        _closing.Cancel();
        _textLoop.GetAwaiter().GetResult();
        ReleaseTextWaiters(new ObjectDisposedException(nameof(SqliteLogStore)));
        _writerState?.Dispose();
        _disposed = true;
        while (_readers.TryTake(out var reader))
        {
            reader.Dispose();
        }

        _writer.Dispose();
        _textWriter.Dispose();
        _textWanted.Dispose();

        _closing.Dispose();
    }
}
