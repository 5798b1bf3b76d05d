using System.Diagnostics;
using Apache.Arrow.Flight;
using Apache.Arrow.Flight.Client;
using Grpc.Core;
using Grpc.Net.Client;
using Shoppe.Columnar.Generation;
using Shoppe.Columnar.Io;
using Shoppe.Pushdown.Client;
using Shoppe.Testing.Hosting;

namespace Shoppe.Pushdown.Tests.Coordinator;

/// <summary>
/// A dataset spread over three pushdown nodes (real processes on loopback, a third of the files each) and a
/// coordinator: its plan has every node's endpoints, the merged result equals DuckDB over all the files, a node
/// killed mid-scan gives an error naming it, and a replica serves a dead node's part.
/// </summary>
public sealed class CoordinatorTests : IDisposable
{
    private const int Files = 6;
    private readonly string _root = Directory.CreateTempSubdirectory("shoppe-coordinator-").FullName;
    private readonly ServiceProcesses _processes = new();
    private readonly string[] _files;

    public CoordinatorTests()
    {
        NanoAodGenerator.Write([Samples.DrellYan, Samples.Dimuon], Path.Combine(_root, "all"), 18_000, Files, 1_500, 2026);
        _files = Directory.GetFiles(Path.Combine(_root, "all")).Order(StringComparer.Ordinal).ToArray();
        for (var f = 0; f < Files; f++)
        {
            // node0 holds files 0-1, node1 2-3, node2 4-5; node1's replica holds the same as node1.
            foreach (var folder in f / 2 == 1 ? new[] { "node1", "replica1" } : [$"node{f / 2}"])
            {
                Directory.CreateDirectory(Path.Combine(_root, folder, "gen"));
                File.Copy(_files[f], Path.Combine(_root, folder, "gen", Path.GetFileName(_files[f])));
            }
        }
    }

    public void Dispose()
    {
        _processes.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    private async Task<(Process Process, string FlightUrl)> StartNodeAsync(string folder, string keyFile)
    {
        var flight = $"http://127.0.0.1:{Loopback.FreePort()}";
        var (process, _) = await _processes.StartServiceAsync("Shoppe.Pushdown.dll", new Dictionary<string, string>
        {
            ["Shoppe__DataRoot"] = Path.Combine(_root, "data-" + folder),
            ["Shoppe__Security__SigningKeyFile"] = keyFile,
            ["Pushdown__StorageRoots__0"] = Path.Combine(_root, folder),
            ["Pushdown__Datasets__gen__0"] = "gen",
            ["Pushdown__FlightUrl"] = flight,
        }, TestContext.Current.CancellationToken);
        return (process, flight);
    }

    /// <summary>Three nodes (and node1's replica when asked) and a coordinator in front of them.</summary>
    private async Task<(PushdownServiceFactory Coordinator, List<Process> Nodes)> StartAsync(bool replica)
    {
        var keyFolder = Path.Combine(_root, "coordinator");
        var probe = new PushdownServiceFactory(keyFolder);
        _ = probe.Token("alice"); // makes the facility's signing key, shared by every node
        var keyFile = probe.KeyFile;
        await probe.DisposeAsync();
        var started = await Task.WhenAll(new[] { "node0", "node1", "node2" }.Concat(replica ? ["replica1"] : []).Select(n => StartNodeAsync(n, keyFile)));
        var settings = new Dictionary<string, string?>();
        for (var i = 0; i < started.Length; i++)
        {
            settings[$"Pushdown:Nodes:{i}:Name"] = i < 3 ? $"node{i}" : "replica1";
            settings[$"Pushdown:Nodes:{i}:FlightUrl"] = started[i].FlightUrl;
            if (i == 3)
            {
                settings[$"Pushdown:Nodes:{i}:ReplicaOf"] = "node1";
            }
        }

        return (new PushdownServiceFactory(keyFolder, settings), [.. started.Select(s => s.Process)]);
    }

    private List<object[]> Expected(string sql) => DuckDb.Query(sql.Replace("{files}", "[" + string.Join(", ", _files.Select(f => $"'{f}'")) + "]", StringComparison.Ordinal));

    private const string ExpectedSql = "SELECT event::DOUBLE, MET_pt::DOUBLE, Jet_pt::DOUBLE[] FROM read_parquet({files}, filename = true, file_row_number = true) WHERE len(list_filter(Jet_pt, x -> x > 40)) >= 2 ORDER BY filename, file_row_number";

    private static readonly ScanRequest Scan = ScanRequest.Of("gen", ["event", "MET_pt", "Jet_pt"], "count(Jet_pt > 40) >= 2");

    [Fact]
    public async Task Coordinator_MergesTheNodesPlans_AndTheResultEqualsDuckDb()
    {
        var (coordinator, _) = await StartAsync(replica: false);
        using var owned = coordinator;
        var (client, headers, channel) = coordinator.Flight("alice");
        using var ownedChannel = channel;
        var info = await client.GetInfo(FlightDescriptor.CreateCommandDescriptor(Scan.ToJson()), headers).ResponseAsync;
        Assert.Equal(Files, info.Endpoints.Count); // one per file, two files per node
        Assert.Equal(3, info.Endpoints.Select(e => e.Locations.Single().Uri).Distinct().Count());

        using var reader = new FlightReader(client);
        var flight = Path.Combine(_root, "flight.parquet");
        await WriteAsync(reader.ReadAsync(info, headers, TestContext.Current.CancellationToken), info.Schema, flight);
        DuckDb.AssertSame(Expected(ExpectedSql), PushdownServiceFactory.Actual(flight));

        using var http = await coordinator.Http("alice").ScanAsync(Scan, TestContext.Current.CancellationToken);
        var (path, _, _) = await PushdownServiceFactory.ReadAllAsync(http, Path.Combine(_root, "http.parquet"));
        DuckDb.AssertSame(Expected(ExpectedSql), PushdownServiceFactory.Actual(path));

        var listed = new List<FlightInfo>();
        using var list = client.ListFlights(new FlightCriteria(""), headers);
        while (await list.ResponseStream.MoveNext(TestContext.Current.CancellationToken))
        {
            listed.Add(list.ResponseStream.Current);
        }

        Assert.Equal(18_000, Assert.Single(listed).TotalRecords);
    }

    [Fact]
    public async Task NodeKilledMidScan_TheErrorNamesIt()
    {
        var (coordinator, nodes) = await StartAsync(replica: false);
        using var owned = coordinator;
        using var http = await coordinator.Http("alice").ScanAsync(ScanRequest.Of("gen", ["event", "Jet_pt"]), TestContext.Current.CancellationToken);
        using (var first = await http.ReadNextAsync(TestContext.Current.CancellationToken))
        {
            Assert.NotNull(first); // node0's first batch is out
        }

        nodes[1].Kill();
        await nodes[1].WaitForExitAsync(TestContext.Current.CancellationToken);
        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            while (await http.ReadNextAsync(TestContext.Current.CancellationToken) is { } batch)
            {
                batch.Dispose();
            }
        });
        var status = await coordinator.Http("alice").StatusAsync(http.ScanId!, TestContext.Current.CancellationToken);
        Assert.Equal("failed", status.State);
        Assert.Contains("pushdown node 'node1'", status.Error, StringComparison.Ordinal);

        // Over Flight, the client's reader says the same.
        var (client, headers, channel) = coordinator.Flight("alice");
        using var ownedChannel = channel;
        var planned = await Assert.ThrowsAsync<RpcException>(() => client.GetInfo(FlightDescriptor.CreateCommandDescriptor(Scan.ToJson()), headers).ResponseAsync);
        Assert.Equal(StatusCode.Unavailable, planned.StatusCode);
        Assert.Contains("pushdown node 'node1'", planned.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReplicaServesADeadNodesPart()
    {
        var (coordinator, nodes) = await StartAsync(replica: true);
        using var owned = coordinator;
        var (client, headers, channel) = coordinator.Flight("alice");
        using var ownedChannel = channel;
        var info = await client.GetInfo(FlightDescriptor.CreateCommandDescriptor(Scan.ToJson()), headers).ResponseAsync;
        Assert.Equal(2, info.Endpoints[2].Locations.Count()); // node1's files: node1, then its replica

        nodes[1].Kill(); // planned, then dead before its part is read
        await nodes[1].WaitForExitAsync(TestContext.Current.CancellationToken);
        using var reader = new FlightReader(client);
        var flight = Path.Combine(_root, "replica.parquet");
        await WriteAsync(reader.ReadAsync(info, headers, TestContext.Current.CancellationToken), info.Schema, flight);
        DuckDb.AssertSame(Expected(ExpectedSql), PushdownServiceFactory.Actual(flight));
    }

    private static async Task WriteAsync(IAsyncEnumerable<Apache.Arrow.RecordBatch> batches, Apache.Arrow.Schema schema, string path)
    {
        using var writer = new ColumnarWriter(path, schema, OutputFormat.Parquet);
        await foreach (var batch in batches)
        {
            using (batch)
            {
                writer.Write(batch);
            }
        }

        writer.Commit();
    }
}
