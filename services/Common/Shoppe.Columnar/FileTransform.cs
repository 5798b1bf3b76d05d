using System.Diagnostics;
using Shoppe.Columnar.Io;

namespace Shoppe.Columnar;

/// <summary>What one file's transform read and wrote.</summary>
public sealed record TransformResult(long EventsIn, long EventsOut, long BytesIn, long BytesOut, TimeSpan Elapsed);

/// <summary>Runs a query over one input file into one output file: read only the needed columns, filter, write.</summary>
public static class FileTransform
{
    /// <summary>
    /// Transforms <paramref name="input"/> into <paramref name="outputPath"/>. The query is compiled against this
    /// file's own schema (files of one dataset may differ); a column the file lacks fails this file only.
    /// On any failure no output file is left behind.
    /// </summary>
    public static TransformResult Run(ColumnarFile input, IReadOnlyList<string> columns, string? filter, string outputPath, OutputFormat format, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        var watch = Stopwatch.StartNew();
        var query = ColumnarQuery.Compile(input.Schema, columns, filter);
        using var writer = new ColumnarWriter(outputPath, query.OutputSchema, format);
        long eventsIn = 0;
        foreach (var batch in input.ReadBatches(query.InputColumns, cancellationToken))
        {
            using (batch)
            {
                eventsIn += batch.Length;
                using var selected = query.Execute(batch);
                if (selected is not null)
                {
                    writer.Write(selected);
                }
            }
        }

        var rows = writer.Rows;
        var bytesOut = writer.Commit();
        return new TransformResult(eventsIn, rows, input.BytesRead, bytesOut, watch.Elapsed);
    }
}
