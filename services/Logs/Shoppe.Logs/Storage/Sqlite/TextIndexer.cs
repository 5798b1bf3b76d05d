using Microsoft.Data.Sqlite;

namespace Shoppe.Logs.Storage.Sqlite;

/// <summary>
/// The text index's writer: on its own connection to its own file, so that tokenizing messages (a third
/// of the store's work when it shared the records' transaction) runs on another core beside ingest. It
/// follows the records' writer in large chunks, and is brought fully up to date before any text query.
/// </summary>
internal sealed class TextIndexer : IDisposable
{
    /// <summary>
    /// The text index takes messages in chunks of at least this many records (or everything stored, before
    /// any text query): FTS5 writes a segment per transaction, and small transactions cost most of its time.
    /// </summary>
    private const int TextIndexChunk = 65_536;

    private readonly SqliteStoreFiles _files;
    private readonly RecordProgress _progress;
    private readonly SqliteLogStore.WriterStats _stats;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly SemaphoreSlim _wanted = new(0);
    private readonly CancellationTokenSource _closing = new();
    private readonly List<(long UpTo, TaskCompletionSource Done)> _waiters = [];
    private readonly Task _loop;

    /// <summary>Starts the writer; it waits until woken.</summary>
    public TextIndexer(SqliteStoreFiles files, RecordProgress progress, SqliteLogStore.WriterStats stats)
    {
        _files = files;
        _progress = progress;
        _stats = stats;
        _loop = Task.Run(LoopAsync);
    }

    /// <summary>Tells the writer that records were committed: it wakes once a whole chunk awaits it.</summary>
    public void RecordsCommitted()
    {
        if (_progress.CommittedUpTo - _progress.IndexedUpTo >= TextIndexChunk)
        {
            Wake();
        }
    }

    /// <summary>Brings the text index up to the last stored record (before a text query).</summary>
    public Task CatchUpAsync(CancellationToken cancellationToken)
    {
        var upTo = _progress.CommittedUpTo;
        if (_progress.IndexedUpTo >= upTo)
        {
            return Task.CompletedTask;
        }

        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_waiters)
        {
            _waiters.Add((upTo, done));
        }

        Wake();
        return done.Task.WaitAsync(cancellationToken);
    }

    /// <summary>Waits until no index write runs and keeps it so until <see cref="Resume"/> (retention).</summary>
    public Task PauseAsync(CancellationToken cancellationToken) => _gate.WaitAsync(cancellationToken);

    /// <summary>Lets index writes run again after <see cref="PauseAsync"/>.</summary>
    public void Resume() => _gate.Release();

    private void Wake()
    {
        if (_wanted.CurrentCount == 0)
        {
            _wanted.Release();
        }
    }

    private async Task LoopAsync()
    {
        SqliteConnection? connection = null;
        try
        {
            while (true)
            {
                try
                {
                    await _wanted.WaitAsync(_closing.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                await _gate.WaitAsync();
                try
                {
                    var upTo = _progress.CommittedUpTo;
                    var from = _progress.IndexedUpTo;
                    if (upTo > from)
                    {
                        connection ??= _files.OpenTextWriter();
                        var started = System.Diagnostics.Stopwatch.GetTimestamp();
                        using var tx = connection.BeginTransaction();
                        using var cmd = connection.CreateCommand();
                        cmd.Transaction = tx;
                        cmd.CommandText = """
                            INSERT INTO records_fts (rowid, message) SELECT id, message FROM store.records WHERE id > $from AND id <= $to;
                            UPDATE text_state SET indexed_up_to = $to;
                            """;
                        cmd.Parameters.AddWithValue("$from", from);
                        cmd.Parameters.AddWithValue("$to", upTo);
                        cmd.ExecuteNonQuery();
                        tx.Commit();
                        _progress.IndexedUpTo = upTo;
                        _stats.TextCommits++;
                        _stats.TextIndexTime += System.Diagnostics.Stopwatch.GetElapsedTime(started);
                    }

                    ReleaseWaiters(null);
                }
                catch (Exception ex)
                {
                    connection?.Dispose();
                    connection = null;
                    ReleaseWaiters(ex);
                }
                finally
                {
                    _gate.Release();
                }
            }
        }
        finally
        {
            connection?.Dispose();
        }
    }

    private void ReleaseWaiters(Exception? failure)
    {
        lock (_waiters)
        {
            var indexed = _progress.IndexedUpTo;
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                var (upTo, done) = _waiters[i];
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

                _waiters.RemoveAt(i);
            }
        }
    }

    /// <summary>
    /// Stops the writer; whoever waits for it is told the store is closed. What it had not reached is indexed
    /// when the store next opens (or before the next text query).
    /// </summary>
    public void Dispose()
    {
        _closing.Cancel();
        _loop.GetAwaiter().GetResult();
        ReleaseWaiters(new ObjectDisposedException(nameof(SqliteLogStore)));
        _gate.Dispose();
        _wanted.Dispose();
        _closing.Dispose();
    }
}
