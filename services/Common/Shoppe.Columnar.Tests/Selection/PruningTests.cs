using Apache.Arrow;
using Apache.Arrow.Types;
using ParquetSharp.Arrow;
using Shoppe.Columnar.Io;
using Shoppe.Columnar.Tests.Selection.Differential;
using Field = Apache.Arrow.Field;

namespace Shoppe.Columnar.Tests.Selection;

/// <summary>
/// Row-group pruning from Parquet statistics and the filter-only kernel (issue 19): pruning may only skip row groups
/// in which no event passes, and the filter-only count equals what the whole query keeps. Checked with random
/// selections (the differential generator's) on the real samples rewritten sorted by MET_pt in row groups of four
/// events, so that the bounds of MET_pt and its neighbours differ between row groups and pruning has work to do.
/// </summary>
public sealed class PruningTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("shoppe-pruning-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Theory]
    [MemberData(nameof(Samples.Files), MemberType = typeof(Samples))]
    public async Task Statistics_AreTheBoundsOfTheValues_UnsignedIdentitiesIncluded(string file)
    {
        using var input = await ColumnarFile.OpenAsync(file, null, TestContext.Current.CancellationToken);
        using var batch = input.ReadBatches(["run", "luminosityBlock", "event", "MET_pt", "Muon_pt", "HLT_IsoMu24"], TestContext.Current.CancellationToken).Single();
        Assert.Equal(input.Events, input.RowGroupEvents(0));
        foreach (var name in new[] { "run", "luminosityBlock", "event", "MET_pt", "Muon_pt", "HLT_IsoMu24" })
        {
            var values = Values(batch.Column(name));
            var statistics = input.Statistics(0, name);
            Assert.NotNull(statistics);
            Assert.Equal(values.Min(), statistics.Min);
            Assert.Equal(values.Max(), statistics.Max);
        }

        Assert.True(input.ChunkBytes(0, ["Muon_pt"]) > 0);
        Assert.True(input.ChunkBytes(0, ["Muon_pt", "Jet_pt"]) > input.ChunkBytes(0, ["Muon_pt"]));
        Assert.Null(input.Statistics(0, "no_such_column"));
    }

    [Theory]
    [MemberData(nameof(Samples.Files), MemberType = typeof(Samples))]
    public async Task RandomSelections_PruneOnlyRowGroupsWithoutPassingEvents(string file)
    {
        var sorted = SortedCopy(file, "MET_pt", rowGroupEvents: 4);
        using var input = await ColumnarFile.OpenAsync(sorted, null, TestContext.Current.CancellationToken);
        Assert.True(input.RowGroups >= 10);
        var pruned = 0;
        var queries = 0;
        for (var seed = 0; seed < 400; seed++)
        {
            var random = new SelectionGenerator(new Random(seed)) { NewSyntax = seed % 2 == 1 }.Query();
            if (random.FilterText is not { } filter)
            {
                continue;
            }

            ColumnarQuery query;
            try
            {
                query = ColumnarQuery.Compile(input.Schema, random.ColumnTexts, filter);
            }
            catch (Shoppe.Columnar.Selection.SelectionException)
            {
                continue; // the generator's rare tree that does not compile (DifferentialFuzzTests counts them)
            }

            queries++;
            for (var group = 0; group < input.RowGroups; group++)
            {
                var kept = 0;
                foreach (var batch in input.ReadBatches(query.InputColumns, [group], TestContext.Current.CancellationToken))
                {
                    using (batch)
                    {
                        using var output = query.Execute(batch);
                        var rows = output?.Length ?? 0;
                        kept += rows;
                        // Shares the batch's arrays: not disposed on its own.
                        var filterOnly = new RecordBatch(new Schema([.. query.FilterColumns.Select(c => batch.Schema.GetFieldByName(c))], null), [.. query.FilterColumns.Select(batch.Column)], batch.Length);
                        Assert.True(rows == query.CountPassing(filterOnly), $"seed {seed}, row group {group}: the filter-only kernel disagrees\n{random.Describe(sorted)}");
                    }
                }

                if (!query.MayPass(column => input.Statistics(group, column)))
                {
                    pruned++;
                    Assert.True(kept == 0, $"seed {seed}: row group {group} was pruned but {kept} events pass\n{random.Describe(sorted)}");
                }
            }
        }

        Assert.True(queries > 200, $"only {queries} selections compiled");
        Assert.True(pruned > 100, $"pruning skipped only {pruned} row groups over {queries} selections: the statistics are not being used");
    }

    [Theory]
    [InlineData("MET_pt > 1000", false)]
    [InlineData("MET_pt > 1000 || nMuon >= 0", true)]
    [InlineData("MET_pt < 0 && nMuon >= 0", false)]
    [InlineData("any(Muon_pt > 5000)", false)]
    [InlineData("count(Jet_pt > 5000) >= 1", false)]
    [InlineData("count(Jet_pt > 5000) == 0", true)]
    [InlineData("any(m in Muon: m.pt > 5000)", false)]
    [InlineData("abs(Muon_eta[0]) > 10", false)]
    [InlineData("!(MET_pt < 1000)", true)]
    [InlineData("MET_pt != -1", true)]
    [InlineData("all(Muon_pt > 5000)", true)]
    public async Task Bounds_DecideTheFiltersTheyCan(string filter, bool mayPass)
    {
        using var input = await ColumnarFile.OpenAsync(Samples.Dimuon, null, TestContext.Current.CancellationToken);
        var query = ColumnarQuery.Compile(input.Schema, ["MET_pt"], filter);
        Assert.Equal(mayPass, query.MayPass(column => input.Statistics(0, column)));
    }

    /// <summary>A null boolean reads as false: a row group whose booleans are true or null may hold events where it is false.</summary>
    [Theory]
    [InlineData(0, false)]
    [InlineData(2, true)]
    public async Task BooleansWithNulls_MayBeFalse(long nulls, bool mayPass)
    {
        using var input = await ColumnarFile.OpenAsync(Samples.Dimuon, null, TestContext.Current.CancellationToken);
        var query = ColumnarQuery.Compile(input.Schema, ["MET_pt"], "any(m in Muon: m.tightId == false)");
        Assert.Equal(mayPass, query.MayPass(column => column == "Muon_tightId" ? new ColumnStatistics(1, 1, nulls) : null));
    }

    [Fact]
    public async Task FilterColumns_AreOnlyWhatTheFilterReads()
    {
        using var input = await ColumnarFile.OpenAsync(Samples.Dimuon, null, TestContext.Current.CancellationToken);
        var query = ColumnarQuery.Compile(input.Schema, ["MET_pt", "Jet_pt", "Muon_eta"], "count(m in Muon) >= 2 && MET_pt > 20");
        Assert.Equal(["MET_pt", "Muon_eta"], query.FilterColumns); // the muons counted: their layout from a column read anyway
        Assert.Empty(ColumnarQuery.Compile(input.Schema, ["MET_pt"], null).FilterColumns);
    }

    /// <summary>A copy of <paramref name="file"/> with its events ordered by <paramref name="column"/>, in row groups of <paramref name="rowGroupEvents"/>.</summary>
    private string SortedCopy(string file, string column, int rowGroupEvents)
    {
        using var input = ColumnarFile.OpenAsync(file, null, default).GetAwaiter().GetResult();
        using var batch = input.ReadBatches([.. input.Schema.FieldsList.Select(f => f.Name)]).Single();
        var values = Values(batch.Column(column));
        var order = Enumerable.Range(0, batch.Length).OrderBy(i => values[i]).ToArray();
        var arrays = batch.Schema.FieldsList.Select(f => batch.Column(f.Name) is ListArray or LargeListArray ? ArrowColumns.TakeLists(batch.Column(f.Name), order, keep: null) : ArrowColumns.Take(batch.Column(f.Name), order)).ToArray();
        var fields = batch.Schema.FieldsList.Select((f, i) => new Field(f.Name, arrays[i].Data.DataType, f.IsNullable)).ToList();
        using var reordered = new RecordBatch(new Schema(fields, null), arrays, batch.Length);
        var path = Path.Combine(_folder, $"sorted-{Path.GetFileName(file)}");
        using (var writer = new FileWriter(path, reordered.Schema))
        {
            for (var start = 0; start < reordered.Length; start += rowGroupEvents)
            {
                // Shares the reordered batch's buffers: not disposed on its own.
                var slice = reordered.Slice(start, Math.Min(rowGroupEvents, reordered.Length - start));
                writer.WriteRecordBatch(slice);
            }

            writer.Close();
        }

        return path;
    }

    /// <summary>The values of a numeric or boolean column, a per-object column's objects flattened.</summary>
    private static double[] Values(IArrowArray array) => array switch
    {
        ListArray list => Values(list.Values),
        LargeListArray list => Values(list.Values),
        BooleanArray flags => [.. Enumerable.Range(0, flags.Length).Select(i => flags.GetValue(i) == true ? 1d : 0d)],
        _ => ArrowColumns.ToDoubles(array, 0, array.Length),
    };
}
