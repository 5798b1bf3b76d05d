using Apache.Arrow;
using Shoppe.Columnar.Io;

namespace Shoppe.Columnar.Tests;

/// <summary>Our side of the comparison with <see cref="DuckDb"/>: the query's output as the same row shape.</summary>
internal static class DuckDbOracle
{
    /// <summary>Our side: the query run over every batch of the file, as the same row shape.</summary>
    public static List<object[]> Ours(string file, IReadOnlyList<string> columns, string? filter)
    {
        using var input = ColumnarFile.OpenAsync(file, null, default).GetAwaiter().GetResult();
        var query = ColumnarQuery.Compile(input.Schema, columns, filter);
        var rows = new List<object[]>();
        foreach (var batch in input.ReadBatches(query.InputColumns))
        {
            using var output = query.Execute(batch);
            if (output is not null)
            {
                rows.AddRange(Rows(output));
            }
        }

        return rows;
    }

    /// <summary>The rows of a batch (of our output, or read back from an output file).</summary>
    public static IEnumerable<object[]> Rows(RecordBatch batch)
    {
        var columns = Enumerable.Range(0, batch.ColumnCount).Select(c => Values(batch.Column(c))).ToArray();
        for (var r = 0; r < batch.Length; r++)
        {
            yield return columns.Select(c => c[r]).ToArray();
        }
    }

    private static object[] Values(IArrowArray array)
    {
        if (array is LargeListArray or ListArray)
        {
            var (offsets, start) = ArrowColumns.Layout(array);
            var values = ArrowColumns.ToDoubles(ArrowColumns.Values(array), start, offsets[^1]);
            return Enumerable.Range(0, array.Length).Select(e => (object)values[offsets[e]..offsets[e + 1]]).ToArray();
        }

        return ArrowColumns.ToDoubles(array, 0, array.Length).Select(v => (object)v).ToArray();
    }

}
