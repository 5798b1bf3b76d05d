using System.Text.Json;
using Shoppe.Columnar;
using Shoppe.Columnar.Io;
using Shoppe.Pushdown.Client;

namespace Shoppe.Pushdown.Tests.Joins;

/// <summary>
/// Joins of column sets on (run, luminosityBlock, event): the samples split into a base set and muons, electrons and
/// jets delivered apart (as delivery writes them), joined back beside the data; the ADL queries over the join equal
/// DuckDB over the original files. Sets that do not line up are refused with the first differing row named.
/// </summary>
public sealed class JoinTests(GeneratedEvents generated) : IClassFixture<GeneratedEvents>, IDisposable
{
    private static readonly string[] Collections = ["Muon", "Electron", "Jet"];

    private readonly string _storage = Directory.CreateTempSubdirectory("shoppe-join-").FullName;
    private readonly string _data = Directory.CreateTempSubdirectory("shoppe-join-data-").FullName;

    public void Dispose()
    {
        Directory.Delete(_storage, recursive: true);
        Directory.Delete(_data, recursive: true);
    }

    private PushdownServiceFactory Service() => new(_data, new Dictionary<string, string?>
    {
        ["Pushdown:StorageRoots:0"] = _storage,
        ["Pushdown:StorageRoots:1"] = generated.Root,
    });

    /// <summary>Writes the columns of <paramref name="source"/> that <paramref name="keep"/> picks (with the identity) into <c>folder/name</c>, as a delivery would.</summary>
    private string Derive(string source, string folder, Func<string, bool> keep, string? filter = null, string? name = null)
    {
        using var input = ColumnarFile.OpenAsync(source, null, TestContext.Current.CancellationToken).GetAwaiter().GetResult();
        var columns = input.Schema.FieldsList.Select(f => f.Name).Where(c => c is "run" or "luminosityBlock" or "event" || keep(c)).ToList();
        var output = Path.Combine(_storage, folder, name ?? Path.GetFileName(source));
        Directory.CreateDirectory(Path.GetDirectoryName(output)!);
        FileTransform.Run(input, columns, filter, output, OutputFormat.Parquet, TestContext.Current.CancellationToken);
        return output;
    }

    private static bool InCollection(string column, string collection) => column.StartsWith(collection + "_", StringComparison.Ordinal) || column == "n" + collection;

    private void Split()
    {
        foreach (var file in PushdownServiceFactory.SampleFiles)
        {
            Derive(file, "base", c => !Collections.Any(k => InCollection(c, k)));
            foreach (var collection in Collections)
            {
                Derive(file, collection.ToLowerInvariant(), c => InCollection(c, collection));
            }
        }
    }

    private static JsonElement Folder(string folder) => JsonSerializer.SerializeToElement(new[] { folder });

    [Theory]
    [MemberData(nameof(AdlQueries.Names), MemberType = typeof(AdlQueries))]
    public async Task AdlQuery_OverJoinedColumnSets_EqualsDuckDbOverTheOriginals(string name)
    {
        Split();
        var query = AdlQueries.All.Single(q => q.Name == name);
        using var service = Service();
        var request = new ScanRequest(Folder("base"), query.Columns, query.Filter, [Folder("muon"), Folder("electron"), Folder("jet")]);
        using var reader = await service.Http("alice").ScanAsync(request, TestContext.Current.CancellationToken);
        var (path, _, _) = await PushdownServiceFactory.ReadAllAsync(reader, Path.Combine(_data, "joined.parquet"));
        DuckDb.AssertSame(PushdownServiceFactory.Expected(query), PushdownServiceFactory.Actual(path));

        // The same over Flight.
        var (client, headers, channel) = service.Flight("alice");
        using var owned = channel;
        var info = await client.GetInfo(Apache.Arrow.Flight.FlightDescriptor.CreateCommandDescriptor(request.ToJson()), headers).ResponseAsync;
        var flight = Path.Combine(_data, "joined-flight.parquet");
        await PushdownServiceFactory.ReadAllAsync(client, info, headers, flight);
        DuckDb.AssertSame(PushdownServiceFactory.Expected(query), PushdownServiceFactory.Actual(flight));
    }

    [Fact]
    public async Task FilteredColumnSet_IsRefusedBeforeAnyByte()
    {
        Split();
        Derive(Samples.Dimuon, "muon-filtered", c => InCollection(c, "Muon"), filter: "MET_pt > 20", name: "nano_dimuon.parquet");
        Derive(Samples.DrellYan, "muon-filtered", c => InCollection(c, "Muon"), filter: "MET_pt > 20", name: "nano_dy.parquet");
        using var service = Service();
        var request = new ScanRequest(Folder("base"), ["MET_pt", "Muon_pt"], null, [Folder("muon-filtered")]);
        var kept = (long)(double)DuckDb.Query($"SELECT count(*)::DOUBLE FROM read_parquet('{Samples.Dimuon}') WHERE MET_pt > 20")[0][0];
        var refused = await Assert.ThrowsAsync<PushdownException>(() => service.Http("alice").ScanAsync(request, TestContext.Current.CancellationToken));
        Assert.Equal(409, refused.Status);
        Assert.Contains($"/muon-filtered/nano_dimuon.parquet has {kept} events and /base/nano_dimuon.parquet 40", refused.Detail, StringComparison.Ordinal);

        var (client, headers, channel) = service.Flight("alice");
        using var owned = channel;
        var failure = await Assert.ThrowsAsync<Grpc.Core.RpcException>(() => client.GetInfo(Apache.Arrow.Flight.FlightDescriptor.CreateCommandDescriptor(request.ToJson()), headers).ResponseAsync);
        Assert.Equal(Grpc.Core.StatusCode.FailedPrecondition, failure.StatusCode);
    }

    [Fact]
    public async Task MismatchAfterBatchesWentOut_NamesTheFirstDifferingRow_AndBreaksTheStreamOff()
    {
        // Generated events (20 row groups), both sides 59,999 events: the base lacks the last event, the muons lack
        // event 45,001, so from row 45,000 on they part.
        Derive(generated.File, "gen-muons", c => InCollection(c, "Muon"), filter: "event != 45001");
        Derive(generated.File, "gen-base", c => !InCollection(c, "Muon"), filter: "event != 60000");
        using var service = Service();
        var request = new ScanRequest(Folder("gen-base"), ["event", "Muon_pt"], null, [Folder("gen-muons")]);
        using var reader = await service.Http("alice").ScanAsync(request, TestContext.Current.CancellationToken);
        long rows = 0;
        var broken = await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            while (await reader.ReadNextAsync(TestContext.Current.CancellationToken) is { } batch)
            {
                rows += batch.Length;
                batch.Dispose();
            }
        });
        Assert.True(rows > 0, "batches before the mismatch were streamed");
        Assert.True(rows <= 45_000, $"{rows} rows arrived, past the mismatch");
        Assert.True(broken is IOException or HttpRequestException, broken.ToString());
        var status = await service.Http("alice").StatusAsync(reader.ScanId!, TestContext.Current.CancellationToken);
        Assert.Equal("failed", status.State);
        var identity = DuckDb.Query($"SELECT run::DOUBLE, luminosityBlock::DOUBLE, event::DOUBLE FROM read_parquet('{generated.File}') WHERE event IN (45001, 45002) ORDER BY event");
        Assert.Contains($"/gen-muons/nano_0000.parquet does not line up with /gen-base/nano_0000.parquet at row 45000: (run, luminosityBlock, event) = ({identity[0][0]}, {identity[0][1]}, 45001) in /gen-base/nano_0000.parquet, ({identity[1][0]}, {identity[1][1]}, 45002) in /gen-muons/nano_0000.parquet", status.Error, StringComparison.Ordinal);

        // Over Flight, the endpoint fails with the same words.
        var (client, headers, channel) = service.Flight("alice");
        using var owned = channel;
        var info = await client.GetInfo(Apache.Arrow.Flight.FlightDescriptor.CreateCommandDescriptor(request.ToJson()), headers).ResponseAsync;
        using var call = client.GetStream(info.Endpoints[0].Ticket, headers);
        var failure = await Assert.ThrowsAsync<Grpc.Core.RpcException>(async () =>
        {
            while (await call.ResponseStream.MoveNext(TestContext.Current.CancellationToken))
            {
                call.ResponseStream.Current.Dispose();
            }
        });
        Assert.Equal(Grpc.Core.StatusCode.FailedPrecondition, failure.StatusCode);
        Assert.Contains("does not line up with /gen-base/nano_0000.parquet at row 45000", failure.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SidesCutIntoDifferentBatches_AreSlicedToLineUp()
    {
        // The base in row groups of 3,000; the muons rewritten in row groups of 1,234.
        Derive(generated.File, "cut-base", c => !InCollection(c, "Muon"));
        using (var input = await ColumnarFile.OpenAsync(generated.File, null, TestContext.Current.CancellationToken))
        {
            string[] columns = ["run", "luminosityBlock", "event", "Muon_pt", "Muon_eta"];
            var output = Path.Combine(_storage, "cut-muons", "nano_0000.parquet");
            Directory.CreateDirectory(Path.GetDirectoryName(output)!);
            var batches = input.ReadBatches(columns, TestContext.Current.CancellationToken).ToList();
            using (var writer = new ParquetSharp.Arrow.FileWriter(output, batches[0].Schema))
            {
                foreach (var batch in batches)
                {
                    for (var start = 0; start < batch.Length; start += 1234)
                    {
                        writer.WriteRecordBatch(batch.Slice(start, Math.Min(1234, batch.Length - start)));
                    }
                }

                writer.Close();
            }

            foreach (var batch in batches)
            {
                batch.Dispose();
            }
        }

        using var service = Service();
        var request = new ScanRequest(Folder("cut-base"), ["event", "MET_pt", "Muon_pt"], "count(Muon_eta > 0) >= 1", [Folder("cut-muons")]);
        using var reader = await service.Http("alice").ScanAsync(request, TestContext.Current.CancellationToken);
        var (path, _, _) = await PushdownServiceFactory.ReadAllAsync(reader, Path.Combine(_data, "cut.parquet"));
        var expected = DuckDb.Query($"SELECT event::DOUBLE, MET_pt::DOUBLE, Muon_pt::DOUBLE[] FROM read_parquet('{generated.File}', file_row_number = true) WHERE len(list_filter(Muon_eta, x -> x > 0)) >= 1 ORDER BY file_row_number");
        DuckDb.AssertSame(expected, PushdownServiceFactory.Actual(path));
    }

    [Fact]
    public async Task UnpairedFiles_AreRefusedBeforeAnyByte()
    {
        Split();
        File.Delete(Path.Combine(_storage, "jet", "nano_dy.parquet"));
        using var service = Service();
        var ex = await Assert.ThrowsAsync<PushdownException>(() => service.Http("alice").ScanAsync(new ScanRequest(Folder("base"), ["MET_pt"], null, [Folder("jet")]), TestContext.Current.CancellationToken));
        Assert.Equal(409, ex.Status);
        Assert.Contains("2 files and a joined one has 1", ex.Detail, StringComparison.Ordinal);
    }
}
