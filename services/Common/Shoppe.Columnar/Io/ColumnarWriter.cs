using Apache.Arrow;
using Apache.Arrow.Ipc;
using ParquetSharp;

namespace Shoppe.Columnar.Io;

/// <summary>The columnar formats a delivery writes.</summary>
public enum OutputFormat
{
    /// <summary>Parquet, ZSTD-compressed (what NanoAOD readers and coffea read).</summary>
    Parquet,

    /// <summary>The Arrow IPC file format (Feather v2), uncompressed: zero-copy for Arrow readers.</summary>
    Arrow,
}

/// <summary>
/// Writes record batches to one output file. The file appears under its name only when complete: it is written
/// under a temporary name and renamed by <see cref="Commit"/>; disposing without committing removes it.
/// </summary>
public sealed class ColumnarWriter : IDisposable
{
    private readonly string _temporary;
    private readonly Schema _schema;
    private readonly OutputFormat _format;
    private FileStream? _stream;
    private ParquetSharp.Arrow.FileWriter? _parquet;
    private ArrowFileWriter? _arrow;
    private bool _committed;

    public ColumnarWriter(string path, Schema schema, OutputFormat format)
    {
        Path = path;
        _schema = schema;
        _format = format;
        _temporary = path + ".partial";
    }

    public string Path { get; }

    public long Rows { get; private set; }

    public void Write(RecordBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        Open();
        if (_parquet is not null)
        {
            _parquet.WriteRecordBatch(batch);
        }
        else
        {
            _arrow!.WriteRecordBatch(batch);
        }

        Rows += batch.Length;
    }

    private void Open()
    {
        if (_stream is not null)
        {
            return;
        }

        // A fresh file, never one already there: in a folder others can write to, a link planted under this name
        // would otherwise send the output (and its overwrite) wherever it points.
        File.Delete(_temporary);
        _stream = new FileStream(_temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16);
        if (_format == OutputFormat.Parquet)
        {
            using var properties = new WriterPropertiesBuilder().Compression(Compression.Zstd).DisableDictionary().CreatedBy("Coffea Shoppe").Build();
            _parquet = new ParquetSharp.Arrow.FileWriter(_stream, _schema, properties, leaveOpen: true);
        }
        else
        {
            _arrow = new ArrowFileWriter(_stream, _schema, leaveOpen: true);
        }
    }

    /// <summary>Finishes the file (an empty one, with the schema, when no event passed), syncs it and gives it its name. Returns its size.</summary>
    public long Commit()
    {
        Open();
        if (_parquet is not null)
        {
            _parquet.Close();
            _parquet.Dispose();
            _parquet = null;
        }
        else
        {
            _arrow!.WriteEnd();
            _arrow.Dispose();
            _arrow = null;
        }

        _stream!.Flush(flushToDisk: true);
        var length = _stream.Length;
        _stream.Dispose();
        File.Move(_temporary, Path, overwrite: true);
        _committed = true;
        return length;
    }

    public void Dispose()
    {
        _parquet?.Dispose();
        _arrow?.Dispose();
        _stream?.Dispose();
        if (!_committed)
        {
            File.Delete(_temporary);
        }
    }
}
