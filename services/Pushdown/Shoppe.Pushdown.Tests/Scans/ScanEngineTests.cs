using System.Text.Json;
using Shoppe.Pushdown.Client;

namespace Shoppe.Pushdown.Tests.Scans;

/// <summary>How a scan reads: pruning by statistics, filter first, streaming with bounded memory (generated events, row groups of 3,000).</summary>
public sealed class ScanEngineTests(GeneratedEvents generated) : IClassFixture<GeneratedEvents>, IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("shoppe-engine-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private PushdownServiceFactory Service(int bufferedBatches = 4) => new(_root, new Dictionary<string, string?>
    {
        ["Pushdown:StorageRoots:0"] = generated.Root,
        ["Pushdown:Datasets:generated:0"] = "generated",
        ["Pushdown:BufferedBatches"] = bufferedBatches.ToString(System.Globalization.CultureInfo.InvariantCulture),
    });

    [Fact]
    public async Task EventRange_PrunesRowGroups_AndGivesTheSameRows()
    {
        using var service = Service();
        using var reader = await service.Http("alice").ScanAsync(ScanRequest.Of("generated", ["event", "MET_pt", "Muon_pt"], "event > 51000 && count(Muon_pt > 5) >= 1"), TestContext.Current.CancellationToken);
        var (path, id, _) = await PushdownServiceFactory.ReadAllAsync(reader, Path.Combine(_root, "out.parquet"));
        var expected = DuckDb.Query($"SELECT event::DOUBLE, MET_pt::DOUBLE, Muon_pt::DOUBLE[] FROM read_parquet('{generated.File}', file_row_number = true) WHERE event > 51000 AND len(list_filter(Muon_pt, x -> x > 5)) >= 1 ORDER BY file_row_number");
        DuckDb.AssertSame(expected, DuckDb.Query($"SELECT event::DOUBLE, MET_pt::DOUBLE, Muon_pt::DOUBLE[] FROM read_parquet('{path}')"));
        var status = await service.Http("alice").StatusAsync(id!, TestContext.Current.CancellationToken);
        Assert.Equal(17, status.RowGroupsPruned); // events 1-51000 are row groups 0-16
        Assert.Equal(3 * GeneratedEvents.RowGroupEvents, status.EventsScanned);
    }

    [Fact]
    public async Task FilterFirst_SkipsDecodingRowGroupsWhereNothingPasses()
    {
        using var service = Service();
        // The bounds cannot decide a remainder, so nothing is pruned; no event passes, so only the filter's column is read.
        using var reader = await service.Http("alice").ScanAsync(ScanRequest.Of("generated", ["MET_pt", "Jet_pt", "Muon_pt"], "event % 1000000 > 500000"), TestContext.Current.CancellationToken);
        var (_, id, rows) = await PushdownServiceFactory.ReadAllAsync(reader, Path.Combine(_root, "none.parquet"));
        Assert.Equal(0, rows);
        var status = await service.Http("alice").StatusAsync(id!, TestContext.Current.CancellationToken);
        Assert.Equal(0, status.RowGroupsPruned);
        Assert.Equal(20, status.RowGroupsSkipped);
        Assert.Equal(GeneratedEvents.Events, status.EventsScanned);

        // Where events pass in every row group, it reads whole row groups after the first.
        using var dense = await service.Http("alice").ScanAsync(ScanRequest.Of("generated", ["MET_pt", "Jet_pt"], "MET_pt >= 0"), TestContext.Current.CancellationToken);
        var (_, denseId, denseRows) = await PushdownServiceFactory.ReadAllAsync(dense, Path.Combine(_root, "all.parquet"));
        Assert.Equal(GeneratedEvents.Events, denseRows);
        Assert.Equal(0, (await service.Http("alice").StatusAsync(denseId!, TestContext.Current.CancellationToken)).RowGroupsSkipped);
    }

    [Fact]
    public async Task SlowReader_HoldsTheScanBack_AndTheFirstBatchComesEarly()
    {
        using var service = Service(bufferedBatches: 1);
        using var reader = await service.Http("alice").ScanAsync(ScanRequest.Of("generated", ["MET_pt", "Jet_pt", "Jet_eta"]), TestContext.Current.CancellationToken);
        long rows;
        using (var first = await reader.ReadNextAsync(TestContext.Current.CancellationToken))
        {
            Assert.NotNull(first);
            rows = first.Length;
        }

        await Task.Delay(500, TestContext.Current.CancellationToken);
        var held = await service.Http("alice").StatusAsync(reader.ScanId!, TestContext.Current.CancellationToken);
        Assert.Equal("running", held.State);
        Assert.NotNull(held.FirstBatchMilliseconds);
        // One batch sent, one buffered, one being written, and what the socket's buffers hold: far from the whole file.
        Assert.True(held.EventsScanned < GeneratedEvents.Events / 2, $"{held.EventsScanned} events were read ahead of a reader that took one batch");

        while (await reader.ReadNextAsync(TestContext.Current.CancellationToken) is { } batch)
        {
            rows += batch.Length;
            batch.Dispose();
        }

        Assert.Equal(GeneratedEvents.Events, rows);
        var done = await service.Http("alice").StatusAsync(reader.ScanId!, TestContext.Current.CancellationToken);
        Assert.Equal("finished", done.State);
        Assert.Equal(GeneratedEvents.Events, done.EventsPassed);
    }

    [Fact]
    public async Task PathsUnderTheRoot_AreScannedLikeNamedDatasets()
    {
        using var service = Service();
        var request = new ScanRequest(JsonSerializer.SerializeToElement(new[] { "/generated/nano_0000.parquet" }), ["MET_pt"], "MET_pt > 100");
        using var reader = await service.Http("alice").ScanAsync(request, TestContext.Current.CancellationToken);
        var (path, _, _) = await PushdownServiceFactory.ReadAllAsync(reader, Path.Combine(_root, "paths.parquet"));
        DuckDb.AssertSame(DuckDb.Query($"SELECT MET_pt::DOUBLE FROM read_parquet('{generated.File}', file_row_number = true) WHERE MET_pt > 100 ORDER BY file_row_number"), PushdownServiceFactory.Actual(path));
    }
}
