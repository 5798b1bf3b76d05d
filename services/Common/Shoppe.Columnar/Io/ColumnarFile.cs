using Apache.Arrow;
using ParquetSharp;
using ParquetSharp.Arrow;

namespace Shoppe.Columnar.Io;

/// <summary>
/// One Parquet file of events, local or remote (HTTP ranges), read with ParquetSharp into Arrow record batches of
/// only the columns asked for. ParquetSharp was measured against Parquet.Net on the sample files and kept
/// (docs/performance.md, "Columnar reading").
/// </summary>
public sealed class ColumnarFile : IDisposable
{
    private readonly Stream _stream;
    private readonly FileReader _reader;

    private ColumnarFile(string location, Stream stream)
    {
        Location = location;
        _stream = stream;
        try
        {
            _reader = new FileReader(stream, leaveOpen: true);
            Schema = _reader.Schema;
            RowGroups = _reader.NumRowGroups;
            Events = _reader.ParquetReader.FileMetaData.NumRows;
        }
        catch (ParquetException ex)
        {
            stream.Dispose();
            throw (stream as HttpRangeStream)?.Failure ?? new ColumnarInputException($"{location} is not a readable Parquet file: {ex.Message}", ex);
        }
    }

    public string Location { get; }

    public Schema Schema { get; }

    public int RowGroups { get; }

    public long Events { get; }

    /// <summary>
    /// What identifies this version of the file: its size with the server's ETag (remote) or its modification time
    /// (local); null where the server gives no validator. Two reads with the same identity read the same bytes, so
    /// outputs can be cached under it.
    /// </summary>
    public string? Identity => _stream switch
    {
        HttpRangeStream { ETag: { } etag } http => $"{http.Length}:{etag}",
        HttpRangeStream => null, // a server without validators: no way to tell versions apart
        FileStream file => $"{file.Length}:{File.GetLastWriteTimeUtc(file.Name).Ticks}",
        _ => null,
    };

    /// <summary>The file's size in bytes.</summary>
    public long Length => _stream.Length;

    /// <summary>Bytes fetched from the origin so far (for a local file: the size of the column chunks read is not tracked, the file size is reported).</summary>
    public long BytesRead => _stream is HttpRangeStream http ? http.BytesFetched : _stream.Length;

    /// <summary>Opens a local path, a file:// URI or an http(s):// URL (read through <paramref name="http"/>).</summary>
    public static async Task<ColumnarFile> OpenAsync(string location, HttpClient? http, CancellationToken cancellationToken) =>
        await OpenAsync(location, http, null, cancellationToken);

    /// <summary>Opens a file as <see cref="OpenAsync(string, HttpClient?, CancellationToken)"/> does, sending <paramref name="authorization"/> with every remote read.</summary>
    public static async Task<ColumnarFile> OpenAsync(string location, HttpClient? http, System.Net.Http.Headers.AuthenticationHeaderValue? authorization, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(location);
        if (Uri.TryCreate(location, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https")
        {
            if (http is null)
            {
                throw new ColumnarInputException($"{location} is remote, and no HTTP client was given to read it");
            }

            var remote = await HttpRangeStream.OpenAsync(http, uri, authorization, cancellationToken);
            return await Task.Run(() => new ColumnarFile(location, remote), cancellationToken);
        }

        var path = uri is { IsFile: true } ? uri.LocalPath : location;
        if (!Path.IsPathFullyQualified(path))
        {
            throw new ColumnarInputException($"{location} is neither an absolute path nor an http(s) URL");
        }

        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Missing or forbidden: trying again will not help, so no inner I/O error marks it transient.
            throw new ColumnarInputException($"{location} cannot be opened: {ex.Message}");
        }

        return new ColumnarFile(location, stream);
    }

    /// <summary>The file's batches (one or more per row group) with only <paramref name="columns"/>.</summary>
    public IEnumerable<RecordBatch> ReadBatches(IReadOnlyList<string> columns, CancellationToken cancellationToken = default) =>
        ReadBatches(columns, Enumerable.Range(0, RowGroups).ToArray(), cancellationToken);

    /// <summary>
    /// The batches of the row groups <paramref name="rowGroups"/> (in that order) with only <paramref name="columns"/>.
    /// Two reads of the same row group cut it into batches of the same lengths, whatever columns they read.
    /// </summary>
    public IEnumerable<RecordBatch> ReadBatches(IReadOnlyList<string> columns, IReadOnlyList<int> rowGroups, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(columns);
        ArgumentNullException.ThrowIfNull(rowGroups);
        var indices = new int[columns.Count];
        for (var i = 0; i < indices.Length; i++)
        {
            indices[i] = Schema.GetFieldIndex(columns[i]);
            if (indices[i] < 0)
            {
                throw new ColumnarInputException($"{Location} has no column {columns[i]}");
            }
        }

        foreach (var group in rowGroups)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(group);
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(group, RowGroups);
        }

        return Read(indices, rowGroups, cancellationToken);
    }

    private IEnumerable<RecordBatch> Read(int[] indices, IReadOnlyList<int> rowGroups, CancellationToken cancellationToken)
    {
        foreach (var group in rowGroups)
        {
            cancellationToken.ThrowIfCancellationRequested();
            Apache.Arrow.Ipc.IArrowArrayStream batches;
            try
            {
                batches = _reader.GetRecordBatchReader([group], indices);
            }
            catch (ParquetException ex)
            {
                throw Translate(ex, group);
            }

            using var owned = batches;
            while (true)
            {
                RecordBatch? batch;
                try
                {
                    batch = batches.ReadNextRecordBatchAsync(cancellationToken).AsTask().GetAwaiter().GetResult();
                }
                catch (ParquetException ex)
                {
                    throw Translate(ex, group);
                }

                if (batch is null)
                {
                    break;
                }

                yield return batch;
            }
        }
    }

    /// <summary>The number of events in row group <paramref name="group"/>.</summary>
    public long RowGroupEvents(int group)
    {
        using var rowGroup = _reader.ParquetReader.RowGroup(group);
        return rowGroup.MetaData.NumRows;
    }

    /// <summary>
    /// The smallest and largest value of <paramref name="column"/> in row group <paramref name="group"/> (over the
    /// objects of a per-object column), from the file's footer; null where the writer kept none, the column is not a
    /// number or a boolean, or a bound is not exact as a double. Unsigned integers (NanoAOD's run, luminosityBlock and
    /// event) are read as unsigned. Parquet leaves NaN out of the bounds.
    /// </summary>
    public ColumnStatistics? Statistics(int group, string column)
    {
        var leaf = Leaf(column);
        if (leaf < 0)
        {
            return null;
        }

        using var rowGroup = _reader.ParquetReader.RowGroup(group);
        using var metadata = rowGroup.MetaData.GetColumnChunkMetaData(leaf);
        using var statistics = metadata.Statistics;
        if (statistics is null || !statistics.HasMinMax)
        {
            return null;
        }

        var descriptor = rowGroup.MetaData.Schema.Column(leaf);
        using var logical = descriptor.LogicalType;
        var unsigned = logical is IntLogicalType { IsSigned: false };
        const double Exact = 9007199254740992d; // 2^53
        (double Min, double Max)? bounds = statistics switch
        {
            Statistics<int> s => unsigned ? ((uint)s.Min, (uint)s.Max) : (s.Min, s.Max),
            Statistics<long> s when unsigned => (ulong)s.Max <= Exact ? ((ulong)s.Min, (ulong)s.Max) : null,
            Statistics<long> s => Math.Abs((double)s.Min) <= Exact && Math.Abs((double)s.Max) <= Exact ? (s.Min, s.Max) : null,
            Statistics<float> s => (s.Min, s.Max),
            Statistics<double> s => (s.Min, s.Max),
            Statistics<bool> s => (s.Min ? 1 : 0, s.Max ? 1 : 0),
            _ => null,
        };
        return bounds is { } b && !double.IsNaN(b.Min) && !double.IsNaN(b.Max) ? new ColumnStatistics(b.Min, b.Max, statistics.NullCount) : null;
    }

    /// <summary>The compressed size in bytes of the chunks of <paramref name="columns"/> in row group <paramref name="group"/>: what reading them moves.</summary>
    public long ChunkBytes(int group, IEnumerable<string> columns)
    {
        ArgumentNullException.ThrowIfNull(columns);
        using var rowGroup = _reader.ParquetReader.RowGroup(group);
        var metadata = rowGroup.MetaData;
        long bytes = 0;
        foreach (var column in columns)
        {
            foreach (var leaf in Leaves(column))
            {
                using var chunk = metadata.GetColumnChunkMetaData(leaf);
                bytes += chunk.TotalCompressedSize;
            }
        }

        return bytes;
    }

    /// <summary>The Parquet leaf of a column with one leaf (a number, or a list of numbers); -1 for anything else.</summary>
    private int Leaf(string column)
    {
        var leaves = Leaves(column);
        return leaves.Count == 1 ? leaves[0] : -1;
    }

    private List<int> Leaves(string column)
    {
        var index = Schema.GetFieldIndex(column);
        var leaves = new List<int>();
        if (index >= 0)
        {
            Collect(_reader.SchemaManifest.SchemaFields[index], leaves);
        }

        return leaves;

        static void Collect(SchemaField field, List<int> into)
        {
            if (field.ColumnIndex >= 0)
            {
                into.Add(field.ColumnIndex);
            }

            foreach (var child in field.Children)
            {
                Collect(child, into);
            }
        }
    }

    /// <summary>A remote read's own failure where there was one (ParquetSharp reports it only as text), else the reader's.</summary>
    private ColumnarInputException Translate(ParquetException ex, int group) =>
        (_stream as HttpRangeStream)?.Failure ?? new ColumnarInputException($"{Location}, row group {group}: {ex.Message}", ex);

    public void Dispose()
    {
        _reader.Dispose();
        _stream.Dispose();
    }
}
