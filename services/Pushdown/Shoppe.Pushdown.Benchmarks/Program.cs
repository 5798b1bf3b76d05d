// The pushdown benchmark (docs/performance.md, "Pushdown"): generated NanoAOD-shaped events, then for every ADL
// query, in one run:
//  1. the scan on a pushdown node (its own process, one scan at a time) read over HTTP and over Arrow Flight, the
//     node's CPU seconds against DuckDB's on one thread over the same files (CREATE TEMP TABLE AS the query);
//  2. bytes shipped against the compressed size of the column chunks the query needs (reading them whole);
//  3. the client's CPU seconds while it reads the scan against the client reading and filtering the files itself
//     (the same columnar engine, in the client's process);
//  4. the time to the first batch, both wires (Flight: GetFlightInfo included).
// Then the same files over three nodes (each a third of the files) behind a coordinator, their endpoints read by
// the client in parallel from the nodes (Flight's way), against one node: the fan-out's overhead and a model of the
// speed-up from the per-node figures (two cores cannot show it).
// Usage: dotnet run -c Release --project services/Pushdown/Shoppe.Pushdown.Benchmarks -- [events] [files] [folder] [client]
// ("client" runs only the client's side, 3: the HTTP scans and the client reading itself, a few minutes.)
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Apache.Arrow.Flight;
using Apache.Arrow.Flight.Client;
using DuckDB.NET.Data;
using Grpc.Core;
using Grpc.Net.Client;
using Shoppe.Columnar;
using Shoppe.Columnar.Generation;
using Shoppe.Columnar.Io;
using Shoppe.Pushdown.Client;
using Shoppe.Security;
using Shoppe.Testing;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
var events = args.Length > 0 ? long.Parse(args[0], CultureInfo.InvariantCulture) : 10_000_000;
var fileCount = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 9;
var work = args.Length > 2 ? Path.GetFullPath(args[2]) : Path.Combine(Path.GetTempPath(), "shoppe-pushdown-bench");
const int Seed = 2026;
const int RowGroup = 100_000;

Console.WriteLine($"Pushdown benchmark: {events:N0} events in {fileCount} files, row groups of {RowGroup:N0}, seed {Seed}; {Environment.ProcessorCount} cores");
var data = Path.Combine(work, $"nano-{events}-{fileCount}-{Seed}");
var samples = Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "data"), "*.parquet").Order(StringComparer.Ordinal).ToArray();
if (!Directory.Exists(data) || Directory.GetFiles(data, "*.parquet").Length != fileCount)
{
    var watch = Stopwatch.StartNew();
    var generated = NanoAodGenerator.Write(samples, data, events, fileCount, RowGroup, Seed, progress: Console.WriteLine);
    Console.WriteLine($"generated {generated.Bytes / 1e6:F0} MB in {watch.Elapsed.TotalSeconds:F1} s");
}

var files = Directory.GetFiles(data, "*.parquet").Order(StringComparer.Ordinal).ToArray();
var names = files.Select(f => Path.GetFileName(f)).ToArray();
var keyFile = Path.Combine(work, "signing.key");
var token = new TokenIssuer(new ShoppeSecurityOptions { SigningKeyFile = keyFile }, TimeProvider.System).Issue("bench", [], TimeSpan.FromHours(4));

// One node with every file; three nodes with a third each.
using var one = Node.Start(work, keyFile, data, "all", names);
if (args.Length > 3 && args[3] == "client")
{
    await Loopback.WaitAliveAsync(one.Url, TimeSpan.FromSeconds(60), CancellationToken.None);
    // The floor under any wire: the same client receiving the same number of bytes as a plain HTTP body from
    // another process (python3's http.server), doing nothing with them.
    using var wire = WireServer.Start(Path.Combine(work, "wire"));
    Console.WriteLine("| query | shipped | client CPU | reading itself | ratio | receiving the bytes alone | client over that |");
    Console.WriteLine("|---|---|---|---|---|---|---|");
    foreach (var query in AdlQueries.All)
    {
        var request = ScanRequest.Of("all", query.Columns, query.Filter);
        await HttpScanAsync(one, request, token);
        var best = Enumerable.Range(0, 3).Select(_ => HttpScanAsync(one, request, token).GetAwaiter().GetResult()).MinBy(m => m.ClientCpu)!;
        var itself = Enumerable.Range(0, 2).Select(_ => ClientItself(files, query).Cpu).Min();
        var floor = Enumerable.Range(0, 3).Select(_ => wire.ReceiveCpuAsync(best.Bytes).GetAwaiter().GetResult()).Min();
        Console.WriteLine($"| {query.Name} | {best.Bytes / 1e6:F1} MB | {best.ClientCpu:F3} s | {itself:F2} s | {100 * best.ClientCpu / itself:F1} % | {floor:F3} s | {best.ClientCpu / floor:F2}x |");
    }

    return 0;
}

var thirds = Enumerable.Range(0, 3).Select(i => names.Where((_, f) => f % 3 == i).ToArray()).ToArray();
var three = thirds.Select((part, i) => Node.Start(work, keyFile, data, "part", part, $"part{i}")).ToList();
// A coordinator in front of the three: it plans by asking each node, and the client reads the nodes directly.
using var coordinator = Node.Start(work, keyFile, data, "part", [], "coordinator", three);
foreach (var node in three.Prepend(one).Append(coordinator))
{
    await Loopback.WaitAliveAsync(node.Url, TimeSpan.FromSeconds(60), CancellationToken.None);
}

using var duck = new DuckDBConnection("Data Source=:memory:");
duck.Open();
Execute(duck, "SET threads TO 1");
Execute(duck, AdlQueries.Macros);
var parquetList = "read_parquet([" + string.Join(", ", files.Select(f => $"'{f}'")) + "])";

var results = new List<string>();
var wireRows = new List<string>();
foreach (var query in AdlQueries.All)
{
    var request = ScanRequest.Of("all", query.Columns, query.Filter);
    // Warm the node once (JIT, the query's kernel, the page cache), on both wires.
    await HttpScanAsync(one, request, token);
    await FlightScanAsync([one], request, token);

    var http = await HttpScanAsync(one, request, token);
    var flight = await FlightScanAsync([one], request, token);
    var duckSeconds = Time(() => Execute(duck, AdlQueries.Macros + $"CREATE OR REPLACE TEMP TABLE r AS {query.SqlOver(parquetList)}"));
    var duckRows = Convert.ToInt64(Scalar(duck, "SELECT count(*) FROM r"), CultureInfo.InvariantCulture);
    if (duckRows != http.Rows || duckRows != flight.Rows)
    {
        throw new InvalidOperationException($"{query.Name}: DuckDB has {duckRows} rows, HTTP {http.Rows}, Flight {flight.Rows}");
    }

    var (wholeBytes, itselfCpu) = ClientItself(files, query);
    var perCoreOurs = events / http.NodeCpu;
    var perCoreDuck = events / duckSeconds;
    Console.WriteLine($"{query.Name}: {http.Rows:N0} rows; node {http.NodeCpu:F2} CPU-s ({perCoreOurs:N0} ev/CPU-s), wall {http.Wall:F2} s; DuckDB {duckSeconds:F2} s ({perCoreDuck:N0} ev/s); shipped {http.Bytes / 1e6:F1} MB of {wholeBytes / 1e6:F1} MB; client {http.ClientCpu:F2} CPU-s against {itselfCpu:F2} itself; first batch {http.FirstBatchMs:F0} ms HTTP, {flight.FirstBatchMs:F0} ms Flight");
    results.Add($"| {query.Name} | {http.Rows:N0} | {perCoreOurs:N0} | {perCoreDuck:N0} | **{perCoreOurs / perCoreDuck:F2}** | {100.0 * http.Bytes / wholeBytes:F1} % ({http.Bytes / 1e6:F1} of {wholeBytes / 1e6:F1} MB) | {100.0 * http.ClientCpu / itselfCpu:F1} % ({http.ClientCpu:F2} of {itselfCpu:F2} s) | {http.FirstBatchMs:F0} / {flight.FirstBatchMs:F0} ms |");
    wireRows.Add($"| {query.Name} | {http.Wall:F2} s | {flight.Wall:F2} s | {flight.NodeCpu:F2} CPU-s |");
}

// Three nodes against one, ADL 5 and ADL 1 (a heavy and a light scan), read over Flight: planned by the
// coordinator, every node's endpoints read in parallel (one reader per node) from the nodes themselves.
var fanout = new List<string>();
foreach (var query in new[] { AdlQueries.Query5, AdlQueries.Query1 })
{
    var request = ScanRequest.Of("part", query.Columns, query.Filter);
    await CoordinatedScanAsync(coordinator, three, request, token); // warm the three nodes and the coordinator
    var single = await FlightScanAsync([one], ScanRequest.Of("all", query.Columns, query.Filter), token);
    var spread = await CoordinatedScanAsync(coordinator, three, request, token);
    if (spread.Rows != single.Rows)
    {
        throw new InvalidOperationException($"{query.Name}: three nodes gave {spread.Rows} rows, one node {single.Rows}");
    }

    // The model: planning, then each node reads its share at one node's per-core rate, in parallel.
    var modelled = single.Wall / (spread.PlanMs / 1000 + (single.Wall - single.PlanMs / 1000) / 3);
    Console.WriteLine($"fan-out {query.Name}: one node {single.Wall:F2} s ({single.NodeCpu:F2} CPU-s, plan {single.PlanMs:F0} ms), three nodes via the coordinator {spread.Wall:F2} s ({spread.NodeCpu:F2} CPU-s in all, plan {spread.PlanMs:F0} ms); modelled {modelled:F1}x on three machines");
    fanout.Add($"| {query.Name} | {single.Wall:F2} s, {single.NodeCpu:F2} CPU-s, plan {single.PlanMs:F0} ms | {spread.Wall:F2} s, {spread.NodeCpu:F2} CPU-s, plan {spread.PlanMs:F0} ms | {spread.NodeCpu / single.NodeCpu:F2}x | {modelled:F1}x |");
}

Console.WriteLine();
Console.WriteLine($"| query | rows | ours, node ev/CPU-s | DuckDB 1 thread ev/s | ratio | bytes shipped of the needed columns whole | client CPU of reading itself | first batch HTTP / Flight |");
Console.WriteLine("|---|---|---|---|---|---|---|---|");
results.ForEach(Console.WriteLine);
Console.WriteLine();
Console.WriteLine("| query | HTTP wall | Flight wall | Flight node CPU |");
Console.WriteLine("|---|---|---|---|");
wireRows.ForEach(Console.WriteLine);
Console.WriteLine();
Console.WriteLine("| query | one node | three nodes via the coordinator (on two cores) | CPU of three against one | modelled speed-up on three machines |");
Console.WriteLine("|---|---|---|---|---|");
fanout.ForEach(Console.WriteLine);
three.ForEach(n => n.Dispose());
return 0;

static async Task<Measured> HttpScanAsync(Node node, ScanRequest request, string token)
{
    using var http = new HttpClient { BaseAddress = new Uri(node.Url + "/"), Timeout = TimeSpan.FromHours(1) };
    http.DefaultRequestHeaders.Authorization = new("Bearer", token);
    Settle();
    var nodeCpu = node.Cpu();
    var clientCpu = Process.GetCurrentProcess().TotalProcessorTime;
    var watch = Stopwatch.StartNew();
    double first = -1;
    long rows = 0;
    using (var reader = await new PushdownClient(http).ScanAsync(request, CancellationToken.None))
    {
        while (await reader.ReadNextAsync(CancellationToken.None) is { } batch)
        {
            if (first < 0)
            {
                first = watch.Elapsed.TotalMilliseconds;
            }

            rows += batch.Length;
            batch.Dispose();
        }

        var wall = watch.Elapsed.TotalSeconds;
        return new Measured(rows, wall, node.Cpu() - nodeCpu, (Process.GetCurrentProcess().TotalProcessorTime - clientCpu).TotalSeconds, reader.BytesReceived, first, 0);
    }
}

// Every endpoint of every node's plan, read in parallel (one reader per node), Flight's way of fanning out.
static async Task<Measured> FlightScanAsync(IReadOnlyList<Node> nodes, ScanRequest scan, string token)
{
    var headers = new Metadata { { "authorization", $"Bearer {token}" } };
    var cpu = nodes.Select(n => n.Cpu()).ToArray();
    var clientCpu = Process.GetCurrentProcess().TotalProcessorTime;
    var watch = Stopwatch.StartNew();
    double first = -1;
    var planned = 0.0;
    long rows = 0;
    await Task.WhenAll(nodes.Select(async node =>
    {
        using var channel = GrpcChannel.ForAddress(node.FlightUrl, new GrpcChannelOptions { MaxReceiveMessageSize = null });
        var client = new FlightClient(channel);
        var info = await client.GetInfo(FlightDescriptor.CreateCommandDescriptor(scan.ToJson()), headers).ResponseAsync;
        lock (nodes)
        {
            planned = Math.Max(planned, watch.Elapsed.TotalMilliseconds);
        }

        foreach (var endpoint in info.Endpoints)
        {
            using var call = client.GetStream(endpoint.Ticket, headers);
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
                using var batch = call.ResponseStream.Current;
                lock (nodes)
                {
                    if (first < 0)
                    {
                        first = watch.Elapsed.TotalMilliseconds;
                    }

                    rows += batch.Length;
                }
            }
        }
    }));
    var wall = watch.Elapsed.TotalSeconds;
    var nodeCpu = nodes.Select((n, i) => n.Cpu() - cpu[i]).Sum();
    return new Measured(rows, wall, nodeCpu, (Process.GetCurrentProcess().TotalProcessorTime - clientCpu).TotalSeconds, 0, first, planned);
}

// Planned by the coordinator; each node's endpoints read from that node, the nodes in parallel.
static async Task<Measured> CoordinatedScanAsync(Node coordinator, IReadOnlyList<Node> nodes, ScanRequest request, string token)
{
    var headers = new Metadata { { "authorization", $"Bearer {token}" } };
    var cpu = nodes.Select(n => n.Cpu()).Append(coordinator.Cpu()).ToArray();
    var watch = Stopwatch.StartNew();
    using var channel = GrpcChannel.ForAddress(coordinator.FlightUrl);
    var info = await new FlightClient(channel).GetInfo(FlightDescriptor.CreateCommandDescriptor(request.ToJson()), headers).ResponseAsync;
    var planned = watch.Elapsed.TotalMilliseconds;
    double first = -1;
    long rows = 0;
    var byLocation = info.Endpoints.GroupBy(e => e.Locations.First().Uri).ToList();
    await Task.WhenAll(byLocation.Select(async group =>
    {
        using var node = GrpcChannel.ForAddress(FlightReader.ToHttp(group.Key), new GrpcChannelOptions { MaxReceiveMessageSize = null });
        var client = new FlightClient(node);
        foreach (var endpoint in group)
        {
            using var call = client.GetStream(endpoint.Ticket, headers);
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
                using var batch = call.ResponseStream.Current;
                lock (byLocation)
                {
                    if (first < 0)
                    {
                        first = watch.Elapsed.TotalMilliseconds;
                    }

                    rows += batch.Length;
                }
            }
        }
    }));
    var wall = watch.Elapsed.TotalSeconds;
    var all = nodes.Append(coordinator).ToList();
    return new Measured(rows, wall, all.Select((n, i) => n.Cpu() - cpu[i]).Sum(), 0, 0, first, planned);
}

// The client doing it itself: read the needed columns of every file and run the query (the same engine).
static (long WholeBytes, double Cpu) ClientItself(string[] files, AdlQuery query)
{
    long bytes = 0;
    Settle();
    var cpu = Process.GetCurrentProcess().TotalProcessorTime;
    foreach (var path in files)
    {
        using var file = ColumnarFile.OpenAsync(path, null, CancellationToken.None).GetAwaiter().GetResult();
        var compiled = ColumnarQuery.Compile(file.Schema, query.Columns, query.Filter);
        for (var g = 0; g < file.RowGroups; g++)
        {
            bytes += file.ChunkBytes(g, compiled.InputColumns);
        }

        foreach (var batch in file.ReadBatches(compiled.InputColumns))
        {
            using (batch)
            {
                compiled.Execute(batch)?.Dispose();
            }
        }
    }

    return (bytes, (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds);
}

// The garbage of what ran before is collected before a measurement, not charged to it.
static void Settle()
{
    GC.Collect();
    GC.WaitForPendingFinalizers();
    GC.Collect();
    GC.WaitForPendingFinalizers();
}

static double Time(Action action)
{
    var watch = Stopwatch.StartNew();
    action();
    return watch.Elapsed.TotalSeconds;
}

static void Execute(DuckDBConnection connection, string sql)
{
    using var command = connection.CreateCommand();
    command.CommandText = sql;
    command.ExecuteNonQuery();
}

static object Scalar(DuckDBConnection connection, string sql)
{
    using var command = connection.CreateCommand();
    command.CommandText = sql;
    return command.ExecuteScalar()!;
}

/// <summary>What one scan cost: rows, wall seconds, the nodes' and the client's CPU seconds, bytes, first batch and planning in ms.</summary>
internal sealed record Measured(long Rows, double Wall, double NodeCpu, double ClientCpu, long Bytes, double FirstBatchMs, double PlanMs);

/// <summary>A pushdown node as its own process (Production, warnings only), serving <c>files</c> of <c>data</c> as one dataset.</summary>
internal sealed class Node : IDisposable
{
    private readonly Process _process;

    private Node(Process process, string url, string flightUrl)
    {
        _process = process;
        Url = url;
        FlightUrl = flightUrl;
    }

    public string Url { get; }

    public string FlightUrl { get; }

    public double Cpu()
    {
        _process.Refresh();
        return _process.TotalProcessorTime.TotalSeconds;
    }

    public static Node Start(string work, string keyFile, string data, string dataset, string[] files, string? name = null, IReadOnlyList<Node>? nodes = null)
    {
        name ??= dataset;
        var port = Loopback.FreePort();
        var flightPort = Loopback.FreePort();
        var start = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "Shoppe.Pushdown.dll")]) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}";
        start.Environment["DOTNET_ENVIRONMENT"] = "Production";
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        start.Environment["Logging__LogLevel__Default"] = "Warning";
        start.Environment["OTEL_SDK_DISABLED"] = "true";
        start.Environment["Shoppe__DataRoot"] = Path.Combine(work, "node-" + name);
        for (var i = 0; i < (nodes?.Count ?? 0); i++)
        {
            start.Environment[$"Pushdown__Nodes__{i}__Name"] = $"part{i}";
            start.Environment[$"Pushdown__Nodes__{i}__FlightUrl"] = nodes![i].FlightUrl;
        }

        start.Environment["Shoppe__Security__SigningKeyFile"] = keyFile;
        start.Environment["Pushdown__StorageRoots__0"] = data;
        start.Environment["Pushdown__FlightUrl"] = $"http://127.0.0.1:{flightPort}";
        for (var i = 0; i < files.Length; i++)
        {
            start.Environment[$"Pushdown__Datasets__{dataset}__{i}"] = files[i];
        }

        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                Console.Error.WriteLine($"[{name}] {e.Data}");
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new Node(process, $"http://127.0.0.1:{port}", $"http://127.0.0.1:{flightPort}");
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }

        _process.Dispose();
    }
}

/// <summary>A plain HTTP server in another process (python3's http.server) serving files of given sizes, for the wire's floor.</summary>
internal sealed class WireServer : IDisposable
{
    private readonly Process _process;
    private readonly string _folder;
    private readonly string _url;

    private WireServer(Process process, string folder, string url)
    {
        _process = process;
        _folder = folder;
        _url = url;
    }

    public static WireServer Start(string folder)
    {
        Directory.CreateDirectory(folder);
        var port = Loopback.FreePort();
        var start = new ProcessStartInfo("python3", ["-m", "http.server", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--directory", folder])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var url = $"http://127.0.0.1:{port}/";
        for (var tries = 0; tries < 100; tries++)
        {
            try
            {
                using var probe = new System.Net.Sockets.TcpClient();
                probe.Connect("127.0.0.1", port);
                break;
            }
            catch (System.Net.Sockets.SocketException)
            {
                Thread.Sleep(100);
            }
        }

        return new WireServer(process, folder, url);
    }

    /// <summary>The client's CPU seconds to receive <paramref name="bytes"/> bytes as one HTTP body and drop them.</summary>
    public async Task<double> ReceiveCpuAsync(long bytes)
    {
        var name = $"{bytes}.bin";
        var path = Path.Combine(_folder, name);
        if (!File.Exists(path))
        {
            using var file = File.Create(path);
            file.SetLength(bytes);
        }

        using var http = new HttpClient();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        await using (var body = await http.GetStreamAsync(new Uri(_url + name)))
        {
            var buffer = new byte[1 << 20];
            long total = 0;
            int read;
            while ((read = await body.ReadAsync(buffer)) > 0)
            {
                total += read;
            }

            if (total != bytes)
            {
                throw new InvalidOperationException($"received {total} of {bytes} bytes");
            }
        }

        return (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;
    }

    public void Dispose()
    {
        _process.Kill();
        _process.Dispose();
    }
}
