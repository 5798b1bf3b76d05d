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
    public IEnumerable<RecordBatch> ReadBatches(IReadOnlyList<string> columns, CancellationToken cancellationToken = default)
    {
        var indices = new int[columns.Count];
        for (var i = 0; i < indices.Length; i++)
        {
            indices[i] = Schema.GetFieldIndex(columns[i]);
            if (indices[i] < 0)
            {
                throw new ColumnarInputException($"{Location} has no column {columns[i]}");
            }
        }

        for (var group = 0; group < RowGroups; group++)
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

    /// <summary>A remote read's own failure where there was one (ParquetSharp reports it only as text), else the reader's.</summary>
    private ColumnarInputException Translate(ParquetException ex, int group) =>
        (_stream as HttpRangeStream)?.Failure ?? new ColumnarInputException($"{Location}, row group {group}: {ex.Message}", ex);

    public void Dispose()
    {
        _reader.Dispose();
        _stream.Dispose();
    }
}
