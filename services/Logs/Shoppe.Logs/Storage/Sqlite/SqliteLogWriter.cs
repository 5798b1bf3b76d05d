using System.Threading.Channels;
using Microsoft.Data.Sqlite;
using SQLitePCL;
using static Shoppe.Logs.Storage.Sqlite.SqliteStatements;

namespace Shoppe.Logs.Storage.Sqlite;

/// <summary>
/// The records' single writer, with group commit: batches that arrive while the writer is busy are written
/// together in one transaction, and each caller is answered once that transaction is durable. Every page of
/// the request index touched by a commit is rewritten, so a few large commits cost far less than many small
/// ones: 512-record commits managed a third of the rate of 4096-record ones (docs/performance.md, "Logs").
/// </summary>
internal sealed class SqliteLogWriter : IDisposable
{
    /// <summary>Below this many records a busy writer lingers for more before committing.</summary>
    private const int LingerBelowRecords = 4096;

    /// <summary>The most records one group commit takes.</summary>
    private const int MaxGroupRecords = 32_768;

    /// <summary>How long it lingers: a couple of milliseconds of latency for much larger commits.</summary>
    private static readonly TimeSpan GroupLinger = TimeSpan.FromMilliseconds(2);

    private readonly SqliteStoreFiles _files;
    private readonly RequestKeys _requests;
    private readonly RecordProgress _progress;
    private readonly TextIndexer _textIndexer;
    private readonly SqliteLogStore.WriterStats _stats;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Channel<PendingBatch> _pending = Channel.CreateUnbounded<PendingBatch>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _loop;
    private WriterState? _state;
    private int _lastGroupRecords;

    /// <summary>Starts the writer; its connection opens with the first group.</summary>
    public SqliteLogWriter(SqliteStoreFiles files, RequestKeys requests, RecordProgress progress, TextIndexer textIndexer, SqliteLogStore.WriterStats stats)
    {
        _files = files;
        _requests = requests;
        _progress = progress;
        _textIndexer = textIndexer;
        _stats = stats;
        _loop = Task.Run(LoopAsync);
    }

    /// <summary>Stores <paramref name="records"/> in the next group commit; completes once it is durable.</summary>
    public async Task AppendAsync(IReadOnlyList<LogRecordRow> records, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(records);
        if (records.Count == 0)
        {
            return;
        }

        var pending = new PendingBatch(records, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        ObjectDisposedException.ThrowIf(!_pending.Writer.TryWrite(pending), typeof(SqliteLogStore));

        await pending.Done.Task.WaitAsync(cancellationToken);
    }

    /// <summary>Waits until no group is being written and keeps it so until <see cref="Resume"/> (retention).</summary>
    public Task PauseAsync(CancellationToken cancellationToken) => _gate.WaitAsync(cancellationToken);

    /// <summary>Lets groups be written again after <see cref="PauseAsync"/>.</summary>
    public void Resume() => _gate.Release();

    private sealed record PendingBatch(IReadOnlyList<LogRecordRow> Records, TaskCompletionSource Done);

    private async Task LoopAsync()
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

            await _gate.WaitAsync();
            try
            {
                var started = System.Diagnostics.Stopwatch.GetTimestamp();
                WriteGroup(group);
                _stats.Commits++;
                _stats.Records += count;
                _stats.WriteTime += System.Diagnostics.Stopwatch.GetElapsedTime(started);
                foreach (var batch in group)
                {
                    batch.Done.TrySetResult();
                }
            }
            catch (Exception ex)
            {
                // A failed group leaves the writer in an unknown state: start afresh from what is committed.
                _state?.Dispose();
                _state = null;
                _requests.Forget();
                foreach (var batch in group)
                {
                    batch.Done.TrySetException(ex);
                }
            }
            finally
            {
                _gate.Release();
            }

            _textIndexer.RecordsCommitted();
        }
    }

    private void WriteGroup(List<PendingBatch> group)
    {
        var writer = State();
        using var tx = writer.Connection.BeginTransaction();
        var db = writer.Connection.Handle!;
        var insert = writer.Insert;
        var upsert = writer.Upsert;
        // The only writer assigns ids itself: no round trip per row to learn the id the text index needs.
        var id = writer.NextId;
        // Arrival order: retention deletes the oldest arrivals first and relies on ids following time.
        foreach (var batch in group)
        {
            foreach (var r in batch.Records)
            {
                var request = _requests.KeyOf(upsert, db, r);
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
        _progress.CommittedUpTo = id - 1;
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

    private WriterState State()
    {
        if (_state is not null)
        {
            return _state;
        }

        var connection = _files.OpenRecords();
        sqlite3_stmt? insert = null;
        try
        {
            insert = Prepare(connection, """
                INSERT INTO records (id, request, ts, service, severity, message, attributes, trace_id, span_id, enduser)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                """);
            _state = new WriterState
            {
                Connection = connection,
                Insert = insert,
                Upsert = RequestKeys.PrepareUpsert(connection),
                NextId = _progress.CommittedUpTo + 1,
            };
            return _state;
        }
        catch
        {
            insert?.Dispose();
            connection.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Stops taking batches, writes whatever was queued, and closes the connection; the text index catches up
    /// with the last of it when the store next opens (or before the next text query).
    /// </summary>
    public void Dispose()
    {
        _pending.Writer.TryComplete();
        _loop.GetAwaiter().GetResult();
        _state?.Dispose();
        _gate.Dispose();
    }
}
