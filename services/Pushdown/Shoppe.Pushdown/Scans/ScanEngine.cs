using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Apache.Arrow;
using Microsoft.Extensions.Options;
using Shoppe.Columnar;
using Shoppe.Columnar.Io;
using Shoppe.Pushdown.Joins;

namespace Shoppe.Pushdown.Scans;

/// <summary>
/// Runs one range of a scan beside the data and streams its record batches as they are ready. A reader thread
/// decodes only the columns the query needs, row group by row group, and hands batches over through a bounded
/// channel: a slow client holds the scan back (back-pressure from the socket), and memory stays at a few batches
/// whatever the size of the scan (<see cref="PushdownOptions.BufferedBatches"/>).
/// </summary>
/// <remarks>
/// Filter first: where the filter reads fewer columns than the query, a row group may be read for the filter's
/// columns alone, and the others decoded only when some of its events pass. Decoding twice costs where most row
/// groups have passing events, so the engine adapts: it reads filter-first until a row group has passing events,
/// then whole row groups until one has none (sorted data and selective filters skip whole runs of row groups;
/// unselective ones pay one extra filter pass per run). Row groups no event of which can pass were pruned at
/// planning (<see cref="ScanPlanner"/>).
/// </remarks>
public sealed class ScanEngine(IOptions<PushdownOptions> options)
{
    private readonly int _buffered = options.Value.BufferedBatches;

    /// <summary>The batches of <paramref name="range"/> (each the caller's to dispose), with progress counted on <paramref name="state"/>.</summary>
    public async IAsyncEnumerable<RecordBatch> RunAsync(ScanSpec spec, ScanRange range, ScanState state, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(range);
        ArgumentNullException.ThrowIfNull(state);
        var channel = Channel.CreateBounded<RecordBatch>(new BoundedChannelOptions(_buffered) { SingleReader = true, SingleWriter = true, FullMode = BoundedChannelFullMode.Wait });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var producer = Task.Factory.StartNew(() => Produce(spec, range, state, channel.Writer, stop.Token), stop.Token, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        try
        {
            while (await channel.Reader.WaitToReadAsync(cancellationToken))
            {
                while (channel.Reader.TryRead(out var batch))
                {
                    yield return batch;
                }
            }
        }
        finally
        {
            await stop.CancelAsync();
            while (channel.Reader.TryRead(out var left))
            {
                left.Dispose();
            }

            try
            {
                await producer;
            }
            catch (OperationCanceledException)
            {
                // the reader went away; nothing more to send
            }

            while (channel.Reader.TryRead(out var left))
            {
                left.Dispose();
            }
        }
    }

    private static void Produce(ScanSpec spec, ScanRange range, ScanState state, ChannelWriter<RecordBatch> writer, CancellationToken cancellationToken)
    {
        try
        {
            using var file = ScanPlanner.Open(spec.Files[range.File]);
            if (spec.Joined.Count == 0)
            {
                ProduceFile(file, spec, range, state, writer, cancellationToken);
            }
            else
            {
                ProduceJoined(file, spec, range, state, writer, cancellationToken);
            }

            writer.Complete();
        }
        catch (Exception ex)
        {
            writer.Complete(ex);
            if (ex is OperationCanceledException)
            {
                throw;
            }
        }
    }

    private static void ProduceFile(ColumnarFile file, ScanSpec spec, ScanRange range, ScanState state, ChannelWriter<RecordBatch> writer, CancellationToken cancellationToken)
    {
        var name = spec.Files[range.File].Name;
        var query = ScanPlanner.Compile(file.Schema, spec, spec.Files[range.File]);
        var filterColumns = query.FilterColumns;
        var rest = query.InputColumns.Where(c => !filterColumns.Contains(c)).ToArray();
        var canFilterFirst = filterColumns.Count > 0 && rest.Length > 0;
        var filterFirst = canFilterFirst;
        foreach (var group in range.RowGroups)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var events = file.RowGroupEvents(group);
            if (filterFirst)
            {
                var filterBatches = Read(file, name, filterColumns, group, cancellationToken).ToList();
                try
                {
                    var counts = filterBatches.Select(query.CountPassing).ToArray();
                    if (counts.Sum() == 0)
                    {
                        state.AddSkipped();
                        state.AddScanned(events, file.ChunkBytes(group, filterColumns));
                        continue;
                    }

                    var i = 0;
                    foreach (var restBatch in Read(file, name, rest, group, cancellationToken))
                    {
                        using (restBatch)
                        {
                            var filterBatch = i < filterBatches.Count ? filterBatches[i] : throw new ColumnarInputException($"{name}, row group {group}: two reads gave different numbers of batches");
                            if (restBatch.Length != filterBatch.Length)
                            {
                                throw new ColumnarInputException($"{name}, row group {group}: two reads gave batches of {filterBatch.Length} and {restBatch.Length} events");
                            }

                            if (counts[i++] > 0)
                            {
                                Emit(query.Execute(Merge(query.InputColumns, filterBatch, restBatch)), writer, cancellationToken);
                            }
                        }
                    }

                    if (i != filterBatches.Count)
                    {
                        throw new ColumnarInputException($"{name}, row group {group}: two reads gave {filterBatches.Count} and {i} batches");
                    }
                }
                finally
                {
                    foreach (var batch in filterBatches)
                    {
                        batch.Dispose();
                    }
                }

                state.AddScanned(events, file.ChunkBytes(group, query.InputColumns));
                filterFirst = false;
                continue;
            }

            var passed = 0;
            foreach (var batch in Read(file, name, query.InputColumns, group, cancellationToken))
            {
                using (batch)
                {
                    var output = query.Execute(batch);
                    passed += output?.Length ?? 0;
                    Emit(output, writer, cancellationToken);
                }
            }

            state.AddScanned(events, file.ChunkBytes(group, query.InputColumns));
            filterFirst = canFilterFirst && passed == 0;
        }
    }

    private static void ProduceJoined(ColumnarFile reference, ScanSpec spec, ScanRange range, ScanState state, ChannelWriter<RecordBatch> writer, CancellationToken cancellationToken)
    {
        var others = ScanPlanner.OpenAll(spec.Joined.Select(j => j[range.File]));
        try
        {
            var names = spec.Joined.Select(j => j[range.File].Name).Prepend(spec.Files[range.File].Name).ToArray();
            var schema = AlignedBatches.CombinedSchema(reference, others, names);
            var query = ScanPlanner.Compile(schema, spec, spec.Files[range.File]);
            foreach (var batch in AlignedBatches.Read(reference, others, names, query.InputColumns, cancellationToken))
            {
                // The joined batch shares the files' buffers; the output is a copy.
                state.AddScanned(batch.Length, 0);
                Emit(query.Execute(batch), writer, cancellationToken);
            }

            foreach (var file in others.Prepend(reference))
            {
                var columns = query.InputColumns.Where(c => file.Schema.GetFieldIndex(c) >= 0).ToList();
                state.AddScanned(0, Enumerable.Range(0, file.RowGroups).Sum(g => file.ChunkBytes(g, columns)));
            }
        }
        finally
        {
            foreach (var other in others)
            {
                other.Dispose();
            }
        }
    }

    /// <summary>One row group's batches; a failure to read names the file as the caller knows it.</summary>
    private static IEnumerable<RecordBatch> Read(ColumnarFile file, string name, IReadOnlyList<string> columns, int group, CancellationToken cancellationToken)
    {
        using var batches = file.ReadBatches(columns, [group], cancellationToken).GetEnumerator();
        while (true)
        {
            try
            {
                if (!batches.MoveNext())
                {
                    yield break;
                }
            }
            catch (ColumnarInputException ex)
            {
                throw new ColumnarInputException(ex.Message.Replace(file.Location, name, StringComparison.Ordinal), ex);
            }

            yield return batches.Current;
        }
    }

    /// <summary>A batch of <paramref name="columns"/> taken from two reads of the same rows (not owning their arrays).</summary>
    private static RecordBatch Merge(IReadOnlyList<string> columns, RecordBatch first, RecordBatch second)
    {
        var fields = new List<Field>(columns.Count);
        var arrays = new IArrowArray[columns.Count];
        for (var c = 0; c < columns.Count; c++)
        {
            var from = first.Schema.GetFieldIndex(columns[c]) >= 0 ? first : second;
            fields.Add(from.Schema.GetFieldByName(columns[c]));
            arrays[c] = from.Column(columns[c]);
        }

        return new RecordBatch(new Schema(fields, null), arrays, first.Length);
    }

    private static void Emit(RecordBatch? batch, ChannelWriter<RecordBatch> writer, CancellationToken cancellationToken)
    {
        if (batch is null)
        {
            return;
        }

        try
        {
            if (!writer.TryWrite(batch))
            {
                writer.WriteAsync(batch, cancellationToken).AsTask().GetAwaiter().GetResult();
            }
        }
        catch
        {
            batch.Dispose();
            throw;
        }
    }
}
