using Apache.Arrow;
using Shoppe.Columnar;
using Shoppe.Columnar.Io;
using Shoppe.Columnar.Selection;
using Shoppe.Pushdown.Joins;
using Shoppe.Pushdown.Storage;

namespace Shoppe.Pushdown.Scans;

/// <summary>A checked scan: its files (and the files of each joined dataset, paired by position), its columns and filter.</summary>
public sealed record ScanSpec(string Dataset, IReadOnlyList<DatasetFile> Files, IReadOnlyList<IReadOnlyList<DatasetFile>> Joined, IReadOnlyList<string> Columns, string? Filter);

/// <summary>What one endpoint reads: row groups of one file (of one pair of files for a join), in file order.</summary>
/// <param name="File">The file's position in the scan's files.</param>
/// <param name="RowGroups">The row groups to read; for a join, every row group of the reference file.</param>
/// <param name="Events">Events in those row groups.</param>
public sealed record ScanRange(int File, IReadOnlyList<int> RowGroups, long Events);

/// <summary>A scan's plan: the output schema, the ranges to read, and what pruning saved.</summary>
public sealed record ScanPlan(Schema Schema, IReadOnlyList<ScanRange> Ranges, long RowGroups, long RowGroupsPruned, long EventsToScan, long BytesToRead);

/// <summary>
/// Plans a scan from the files' footers: compiles the query against each file's schema (a selection that does not
/// fit is refused before anything is read), drops the row groups no event of which can pass (their statistics),
/// and cuts the rest into ranges of at most <see cref="PushdownOptions.EndpointEvents"/> events.
/// </summary>
public static class ScanPlanner
{
    /// <summary>Plans <paramref name="spec"/>; <paramref name="onFile"/> hears each file's ranges as they are planned.</summary>
    /// <exception cref="ScanRequestException">A file unreadable, a selection that does not fit, files whose outputs differ, or joined datasets that do not pair.</exception>
    /// <exception cref="SelectionException">The columns or filter do not parse or do not fit the data.</exception>
    public static ScanPlan Plan(ScanSpec spec, long endpointEvents, Action<int, IReadOnlyList<ScanRange>>? onFile, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        foreach (var joined in spec.Joined)
        {
            if (joined.Count != spec.Files.Count)
            {
                throw new ScanRequestException(409, "Joined datasets do not pair", $"The dataset has {spec.Files.Count} files and a joined one has {joined.Count} ({(joined.Count > 0 ? joined[0].Name : "none")}...): a join pairs files one to one, in name order.");
            }
        }

        Schema? schema = null;
        var ranges = new List<ScanRange>();
        long groups = 0, pruned = 0, events = 0, bytes = 0;
        for (var f = 0; f < spec.Files.Count; f++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var file = Open(spec.Files[f]);
            var joinedFiles = OpenAll(spec.Joined.Select(j => j[f]));
            try
            {
                var inputSchema = joinedFiles.Count == 0 ? file.Schema : AlignedBatches.CombinedSchema(file, joinedFiles, [.. spec.Joined.Select(j => j[f].Name).Prepend(spec.Files[f].Name)]);
                var query = Compile(inputSchema, spec, spec.Files[f]);
                if (schema is null)
                {
                    schema = query.OutputSchema;
                }
                else if (!SchemaText.SameFields(schema, query.OutputSchema))
                {
                    throw new ScanRequestException(422, "Files differ", $"{spec.Files[f].Name} gives columns of other types than {spec.Files[0].Name} ({SchemaText.Describe(query.OutputSchema)} against {SchemaText.Describe(schema)}); scan them apart.");
                }

                var fileRanges = joinedFiles.Count == 0 ? Prune(file, query, f, endpointEvents, ref pruned, ref bytes) : Whole(file, joinedFiles, [.. spec.Joined.Select(j => j[f].Name).Prepend(spec.Files[f].Name)], query, f, ref bytes);
                groups += file.RowGroups;
                events += fileRanges.Sum(r => r.Events);
                ranges.AddRange(fileRanges);
                onFile?.Invoke(f, fileRanges);
            }
            finally
            {
                foreach (var joinedFile in joinedFiles)
                {
                    joinedFile.Dispose();
                }
            }
        }

        return new ScanPlan(schema!, ranges, groups, pruned, events, bytes);
    }

    /// <summary>Opens a file of the scan; a file that cannot be read is the caller's to hear about, named.</summary>
    public static ColumnarFile Open(DatasetFile file)
    {
        try
        {
            return ColumnarFile.OpenAsync(file.FullPath, null, CancellationToken.None).GetAwaiter().GetResult();
        }
        catch (ColumnarInputException ex)
        {
            throw new ScanRequestException(422, "Unreadable file", ex.Message.Replace(file.FullPath, file.Name, StringComparison.Ordinal), ex);
        }
    }

    /// <summary>Opens every file, or none: where one cannot be opened, those already open are closed.</summary>
    public static List<ColumnarFile> OpenAll(IEnumerable<DatasetFile> files)
    {
        var opened = new List<ColumnarFile>();
        try
        {
            foreach (var file in files)
            {
                opened.Add(Open(file));
            }

            return opened;
        }
        catch
        {
            foreach (var file in opened)
            {
                file.Dispose();
            }

            throw;
        }
    }

    /// <summary>Compiles the scan's selection against one file's (or joined pair's) schema.</summary>
    public static ColumnarQuery Compile(Schema schema, ScanSpec spec, DatasetFile file)
    {
        try
        {
            return ColumnarQuery.Compile(schema, spec.Columns, spec.Filter);
        }
        catch (SelectionException ex) when (ex.Column is not null)
        {
            throw new SelectionException($"{ex.Reason} (in {file.Name})", ex.Text, ex.Position, ex.Column) { Where = ex.Where };
        }
    }

    private static List<ScanRange> Prune(ColumnarFile file, ColumnarQuery query, int index, long endpointEvents, ref long pruned, ref long bytes)
    {
        var ranges = new List<ScanRange>();
        var current = new List<int>();
        long currentEvents = 0;
        for (var group = 0; group < file.RowGroups; group++)
        {
            var g = group;
            if (!query.MayPass(column => file.Statistics(g, column)))
            {
                pruned++;
                continue;
            }

            var groupEvents = file.RowGroupEvents(group);
            if (current.Count > 0 && currentEvents + groupEvents > endpointEvents)
            {
                ranges.Add(new ScanRange(index, current, currentEvents));
                current = [];
                currentEvents = 0;
            }

            current.Add(group);
            currentEvents += groupEvents;
            bytes += file.ChunkBytes(group, query.InputColumns);
        }

        if (current.Count > 0)
        {
            ranges.Add(new ScanRange(index, current, currentEvents));
        }

        return ranges;
    }

    private static List<ScanRange> Whole(ColumnarFile file, List<ColumnarFile> joined, string[] names, ColumnarQuery query, int index, ref long bytes)
    {
        // Sides of different lengths cannot line up: refused before anything is sent (the rows are checked as read).
        for (var j = 0; j < joined.Count; j++)
        {
            if (joined[j].Events != file.Events)
            {
                throw new ScanRequestException(409, "Join does not line up", $"{names[j + 1]} has {joined[j].Events} events and {names[0]} {file.Events}: joined files hold the same events, row for row.");
            }
        }

        var all = Enumerable.Range(0, file.RowGroups).ToArray();
        foreach (var f in joined.Prepend(file))
        {
            var columns = query.InputColumns.Where(c => f.Schema.GetFieldIndex(c) >= 0).ToList();
            for (var group = 0; group < f.RowGroups; group++)
            {
                bytes += f.ChunkBytes(group, columns);
            }
        }

        return file.Events == 0 ? [] : [new ScanRange(index, all, file.Events)];
    }
}
