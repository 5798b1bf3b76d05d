using Shoppe.Logs.Storage.Sqlite;

namespace Shoppe.Logs.Storage;

/// <summary>
/// The embedded store: one SQLite file of records in WAL mode with <c>synchronous=FULL</c> (an acknowledged
/// batch survives a crash), indexed on (request, time); and a second file holding the FTS5 text index of the
/// messages, kept up to date by its own writer so that text indexing runs beside ingest rather than inside it.
/// Requests are numbered as they first arrive and records carry the number, not the 32-character id: the
/// index entries are a fifth of the size (docs/performance.md, "Logs"). One writer per file, group commits;
/// readers never block them.
/// </summary>
/// <remarks>
/// This class only composes the parts, each in <c>Storage/Sqlite/</c>: the files and their layout
/// (<see cref="SqliteStoreFiles"/>, <see cref="SqliteSchema"/>), the records' writer with group commit
/// (<see cref="SqliteLogWriter"/>) and the request numbers and owners it keeps (<see cref="RequestKeys"/>),
/// the text index's writer (<see cref="TextIndexer"/>), the kept readers (<see cref="SqliteReaderPool"/>),
/// the queries (<see cref="SqliteLogQueries"/>) and retention (<see cref="SqliteRetention"/>).
/// </remarks>
public sealed class SqliteLogStore : ILogStore, IDisposable
{
    private readonly SqliteLogWriter _writer;
    private readonly TextIndexer _textIndexer;
    private readonly SqliteReaderPool _readers;
    private readonly SqliteLogQueries _queries;
    private readonly SqliteRetention _retention;
    private int _disposeStarted;

    /// <summary>Opens (creating or migrating if needed) the store at <paramref name="path"/>; its text index is kept beside it.</summary>
    public SqliteLogStore(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var files = new SqliteStoreFiles(path);
        Path = path;
        TextIndexPath = files.TextIndexFile;
        var committedUpTo = SqliteSchema.OpenRecords(files);
        var progress = new RecordProgress(committedUpTo, SqliteSchema.OpenTextIndex(files));
        var requests = new RequestKeys();
        _textIndexer = new TextIndexer(files, progress, Stats);
        _writer = new SqliteLogWriter(files, requests, progress, _textIndexer, Stats);
        _readers = new SqliteReaderPool(files);
        _queries = new SqliteLogQueries(_readers, _textIndexer);
        _retention = new SqliteRetention(files, _readers, _writer, _textIndexer, requests);
    }

    /// <summary>The records file.</summary>
    public string Path { get; }

    /// <summary>The text index's file, beside the records.</summary>
    public string TextIndexPath { get; }

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

    /// <inheritdoc />
    /// <remarks>Group commit: each caller is answered once the transaction holding its batch is durable (<see cref="SqliteLogWriter"/>).</remarks>
    public Task AppendAsync(IReadOnlyList<LogRecordRow> records, CancellationToken cancellationToken) =>
        _writer.AppendAsync(records, cancellationToken);

    /// <inheritdoc />
    public Task<RequestInfo?> GetRequestAsync(string requestId, bool descendants, CancellationToken cancellationToken) =>
        _queries.GetRequestAsync(requestId, descendants, cancellationToken);

    /// <inheritdoc />
    public Task<LogPage> QueryAsync(LogQuery query, CancellationToken cancellationToken) =>
        _queries.QueryAsync(query, cancellationToken);

    /// <inheritdoc />
    public Task<RequestSummary> SummarizeAsync(RequestInfo request, string? visibleTo, CancellationToken cancellationToken) =>
        _queries.SummarizeAsync(request, visibleTo, cancellationToken);

    /// <summary>
    /// Deletes records older than <paramref name="cutoffUnixNano"/>, then the oldest while the store is over
    /// <paramref name="maxBytes"/>, in bounded chunks so ingest is never blocked for long.
    /// </summary>
    /// <returns>How many records were deleted.</returns>
    public Task<long> EnforceRetentionAsync(long cutoffUnixNano, long maxBytes, CancellationToken cancellationToken) =>
        _retention.EnforceAsync(cutoffUnixNano, maxBytes, cancellationToken);

    /// <summary>How many records the store holds.</summary>
    public Task<long> CountAsync(CancellationToken cancellationToken) => _retention.CountAsync(cancellationToken);

    /// <summary>Bytes the store's pages hold, records and text index together (free pages not counted).</summary>
    public long UsedBytes() => _retention.UsedBytes();

    /// <inheritdoc />
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposeStarted, 1) != 0)
        {
            return;
        }

        // Whatever was queued is still written before the store closes; the text index catches up with it
        // when the store next opens (or before the next text query).
        _writer.Dispose();
        _textIndexer.Dispose();
        _readers.Dispose();
    }
}
