using System.Diagnostics;
using System.Globalization;
using Google.Protobuf;
using Microsoft.Data.Sqlite;
using Shoppe.Logs.Ingest;
using Shoppe.Logs.Otlp.Collector;
using Shoppe.Logs.Otlp.Common;
using Shoppe.Logs.Otlp.Logs;
using Shoppe.Logs.Storage;

// The logs store's load driver (docs/performance.md, "Logs"): ingest N records across M requests into the
// embedded store in OTLP-sized batches, next to the same rows written by bare SQLite (no indexes, no text
// search: the limit our store's bookkeeping is measured against), then the latency of one request's logs.
// Usage: dotnet run -c Release --project services/Logs/Shoppe.Logs.Benchmarks -- [records] [requests] [folder]
var records = args.Length > 0 ? long.Parse(args[0], CultureInfo.InvariantCulture) : 10_000_000;
var requests = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 100_000;
var folder = args.Length > 2 ? args[2] : Path.Combine(Path.GetTempPath(), $"shoppe-logs-bench-{Environment.ProcessId}");
const int Batch = 512;          // the OpenTelemetry SDK's default export batch
const int BigRequest = 10_000;  // the "10k-line request" of the issue
const int Seed = 20261125;
Directory.CreateDirectory(folder);
Console.WriteLine($"logs benchmark: {records:N0} records, {requests:N0} requests, batches of {Batch}, seed {Seed}, {Environment.ProcessorCount} cores, folder {folder}");

// The workload: records of many requests interleaved in time, as a busy facility produces them. Request
// ids are time-ordered (the facility makes version-7 GUIDs), about a thousand requests are live at any
// moment, each writes ~100 records; one request has 10k lines. Messages look like the services' own.
// Records are made in chunks of one export batch, each from its own seeded generator, so any number of
// producers write exactly the same records.
string[] services = ["delivery", "cache", "transfer", "workflow", "pushdown", "portal"];
string[] templates =
[
    "reading nano_{0}.parquet block {1} through the cache",
    "cache miss: fetching {1} blocks of file {0} from origin",
    "file {0}: {1} events selected, writing output",
    "transform accepted: {1} files for dataset run{0}",
    "retrying file {0} after timeout ({1} ms)",
    "file {0} unreadable: not a Parquet file",
];
var recordsPerRequest = Math.Max(1, records / requests);
List<LogRecordRow> MakeChunk(long chunk)
{
    var rng = new Random(Seed + (int)chunk);
    var rows = new List<LogRecordRow>(Batch);
    for (var i = chunk * Batch; i < Math.Min(records, (chunk + 1) * Batch); i++)
    {
        var requestNumber = Math.Max(0, (i / recordsPerRequest) - rng.Next(1000));
        var request = i % 100 == 0 && i / 100 < BigRequest ? BigRequestId : RequestName(requestNumber);
        var severity = rng.Next(100) switch { < 2 => 17, < 8 => 13, < 30 => 5, _ => 9 };
        var t = templates[severity == 17 ? 5 : rng.Next(templates.Length - 1)];
        rows.Add(new LogRecordRow(request, 1_764_072_000_000_000_000L + (i * 1_000_000), services[rng.Next(services.Length)], severity,
            string.Format(CultureInfo.InvariantCulture, t, rng.Next(10_000), rng.Next(1, 500)), null, null, null, "user" + (requestNumber & 63), false));
    }

    return rows;
}

var chunks = (records + Batch - 1) / Batch;

// The records are made before the clock starts: at a facility the exporters are other processes on
// other machines, and on two cores making them here would take CPU from the store being measured.
var made = Stopwatch.StartNew();
var prepared = new List<LogRecordRow>[chunks];
Parallel.For(0, chunks, c => prepared[c] = MakeChunk(c));
Console.WriteLine($"made {records:N0} records in {made.Elapsed.TotalSeconds:N1} s (not measured)");

// 1. Our store, fed by 8 concurrent exporters (seven services and the margin), each sending 512-record
//    batches as the OpenTelemetry SDK does and waiting for each acknowledgement.
const int Exporters = 8;
var storePath = Path.Combine(folder, "logs.db");
var store = new SqliteLogStore(storePath);
var next = -1L;
var watch = Stopwatch.StartNew();
await Task.WhenAll(Enumerable.Range(0, Exporters).Select(_ => Task.Run(async () =>
{
    long chunk;
    while ((chunk = Interlocked.Increment(ref next)) < chunks)
    {
        await store.AppendAsync(prepared[chunk], CancellationToken.None);
        if (chunk > 0 && chunk % 2000 == 0)
        {
            Console.WriteLine($"  {chunk * Batch:N0} records, {chunk * Batch / watch.Elapsed.TotalSeconds:N0} records/s");
        }
    }
})));
var oursSeconds = watch.Elapsed.TotalSeconds;
var oursRate = records / oursSeconds;
Console.WriteLine($"store ingest: {oursRate:N0} records/s ({oursSeconds:N1} s), {new FileInfo(storePath).Length / 1e9:N2} GB; " +
    $"{store.Stats.Commits:N0} group commits of {store.Stats.Records / Math.Max(1, store.Stats.Commits):N0} records, writer busy {store.Stats.WriteTime.TotalSeconds:N1} s; " +
    $"text index: {store.Stats.TextCommits:N0} commits, busy {store.Stats.TextIndexTime.TotalSeconds:N1} s");

// 2. The peer: bare SQLite, same rows and durability, no index and no text search, 4096 records a commit
//    (what our group commit gathers from eight exporters): the rate at which SQLite on this disk stores rows.
const int BareCommit = 4096;
var barePath = Path.Combine(folder, "bare.db");
using (var bare = new SqliteConnection($"Data Source={barePath}"))
{
    bare.Open();
    using (var setup = bare.CreateCommand())
    {
        setup.CommandText = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE records (id INTEGER PRIMARY KEY, request_id TEXT, ts INTEGER, service TEXT, severity INTEGER, message TEXT, attributes TEXT, trace_id TEXT, span_id TEXT, enduser TEXT)";
        setup.ExecuteNonQuery();
    }

    watch.Restart();
    for (long start = 0; start < chunks; start += BareCommit / Batch)
    {
        using var tx = bare.BeginTransaction();
        using var insert = bare.CreateCommand();
        insert.Transaction = tx;
        insert.CommandText = "INSERT INTO records (request_id, ts, service, severity, message, enduser) VALUES ($r, $t, $s, $v, $m, $u)";
        var p = ParameterNames.Select(n => insert.Parameters.Add(n, SqliteType.Text)).ToArray();
        insert.Prepare();
        foreach (var r in Enumerable.Range(0, BareCommit / Batch).Where(c => start + c < chunks).SelectMany(c => prepared[start + c]))
        {
            p[0].Value = r.RequestId;
            p[1].Value = r.TimeUnixNano;
            p[2].Value = r.Service;
            p[3].Value = r.Severity;
            p[4].Value = r.Message;
            p[5].Value = r.EndUser;
            insert.ExecuteNonQuery();
        }

        tx.Commit();
    }
}

var bareRate = records / watch.Elapsed.TotalSeconds;
Console.WriteLine($"bare SQLite ingest: {bareRate:N0} records/s ({watch.Elapsed.TotalSeconds:N1} s)");

// The exporters' records are theirs, not the logs service's: let them go before measuring reads.
var sample = prepared[0];
Array.Clear(prepared);
GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);

// 3. OTLP decode and mapping, the receiver's CPU work per record, on exports of the same shape.
var export = new ExportLogsServiceRequest();
var scope = new ScopeLogs();
foreach (var r in sample)
{
    var record = new LogRecord { TimeUnixNano = (ulong)r.TimeUnixNano, SeverityNumber = (SeverityNumber)r.Severity, Body = new AnyValue { StringValue = r.Message } };
    record.Attributes.Add(new KeyValue { Key = Shoppe.ServiceDefaults.ShoppeAttributes.RequestId, Value = new AnyValue { StringValue = r.RequestId } });
    record.Attributes.Add(new KeyValue { Key = Shoppe.ServiceDefaults.ShoppeAttributes.EndUser, Value = new AnyValue { StringValue = r.EndUser } });
    scope.LogRecords.Add(record);
}

var resourceLogs = new ResourceLogs { Resource = new Shoppe.Logs.Otlp.Resource.Resource() };
resourceLogs.Resource.Attributes.Add(new KeyValue { Key = "service.name", Value = new AnyValue { StringValue = "delivery" } });
resourceLogs.ScopeLogs.Add(scope);
export.ResourceLogs.Add(resourceLogs);
var body = export.ToByteArray();
watch.Restart();
var decoded = 0L;
while (watch.Elapsed < TimeSpan.FromSeconds(3))
{
    if (!OtlpLogMapper.TryParse(new System.Buffers.ReadOnlySequence<byte>(body), out var parsed, out var error))
    {
        throw new InvalidOperationException(error);
    }

    decoded += OtlpLogMapper.Map(parsed, 0).Count;
}

Console.WriteLine($"OTLP decode+map: {decoded / watch.Elapsed.TotalSeconds:N0} records/s on one core");

// 4. Query latency: first page (1000 records) of random requests, and the full read of the 10k-line request.
var pick = new Random(Seed);
var ids = Enumerable.Range(0, 1000).Select(_ => RequestName(pick.NextInt64(records / recordsPerRequest))).ToArray();
var first = new List<double>();
foreach (var id in ids)
{
    var t = Stopwatch.GetTimestamp();
    await store.QueryAsync(new LogQuery(id, 0, null, null, null, null, null, 1000, "user1"), CancellationToken.None);
    first.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
}

var full = new List<double>();
for (var i = 0; i < 200; i++)
{
    var t = Stopwatch.GetTimestamp();
    var n = 0;
    LogCursor? after = null;
    do
    {
        var page = await store.QueryAsync(new LogQuery(BigRequestId, 0, null, null, null, null, after, 10_000, null), CancellationToken.None);
        n += page.Records.Count;
        after = page.Next;
    }
    while (after is not null);

    full.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
    if (n < Math.Min(BigRequest, records / 100))
    {
        throw new InvalidOperationException($"the big request has {n} records");
    }
}

// Where a full read's time goes: SQLite alone on one kept connection, ids only vs every column, rows
// stepped but not read; the store's figure above adds reading the columns and making the records.
using (var raw = new SqliteConnection($"Data Source={storePath}"))
{
    raw.Open();
    using (var pragma = raw.CreateCommand())
    {
        pragma.CommandText = "PRAGMA cache_size = -65536"; // the store's own setting
        pragma.ExecuteNonQuery();
    }

    foreach (var sql in new[]
    {
        "SELECT id, ts FROM records WHERE request = (SELECT key FROM requests WHERE request_id = '" + BigRequestId + "') ORDER BY ts, id",
        "SELECT id, ts, service, severity, message, attributes, trace_id, span_id FROM records WHERE request = (SELECT key FROM requests WHERE request_id = '" + BigRequestId + "') ORDER BY ts, id",
        "SELECT id, ts, service, severity, message, attributes, trace_id, span_id FROM records WHERE request = (SELECT key FROM requests WHERE request_id = '" + BigRequestId + "') ORDER BY id",
        "SELECT id, ts, service, severity, message, attributes, trace_id, span_id FROM records WHERE request = (SELECT key FROM requests WHERE request_id = '" + BigRequestId + "') ORDER BY ts, id LIMIT 10001",
    })
    {
        var times = new List<double>();
        for (var i = 0; i < 20; i++)
        {
            var t = Stopwatch.GetTimestamp();
            using var cmd = raw.CreateCommand();
            cmd.CommandText = sql;
            using var reader = cmd.ExecuteReader();
            var n = 0;
            while (reader.Read())
            {
                n++;
            }

            times.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
        }

        Console.WriteLine($"  raw {P(times, 0.5):N1} ms: {sql}");
    }
}

var search = new List<double>();
foreach (var id in ids.Take(200))
{
    var t = Stopwatch.GetTimestamp();
    await store.QueryAsync(new LogQuery(id, 0, null, null, null, ["unreadable"], null, 1000, null), CancellationToken.None);
    search.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
}

static double P(List<double> xs, double q)
{
    var sorted = xs.Order().ToArray();
    return sorted[(int)Math.Min(sorted.Length - 1, Math.Ceiling(q * sorted.Length) - 1)];
}

Console.WriteLine($"query first page (1000 random requests): p50 {P(first, 0.5):N2} ms, p99 {P(first, 0.99):N2} ms");
Console.WriteLine($"query full read of the 10k-line request (200 runs): p50 {P(full, 0.5):N2} ms, p99 {P(full, 0.99):N2} ms");
Console.WriteLine($"query text search within a request (200 requests): p50 {P(search, 0.5):N2} ms, p99 {P(search, 0.99):N2} ms");
Console.WriteLine($"RESULT ingest_ours={oursRate:F0} ingest_bare_sqlite={bareRate:F0} ratio={oursRate / bareRate:F2} first_p50={P(first, 0.5):F2} first_p99={P(first, 0.99):F2} full_p50={P(full, 0.5):F2} full_p99={P(full, 0.99):F2}");
store.Dispose();
SqliteConnection.ClearAllPools();
if (Environment.GetEnvironmentVariable("SHOPPE_BENCH_KEEP") != "1")
{
    Directory.Delete(folder, recursive: true);
}

internal static partial class Program
{
    /// <summary>The 10k-line request's id.</summary>
    private const string BigRequestId = "019abf00000000000000000000000b16";

    /// <summary>A request id as the facility makes them: 32 hex digits (a version-7 GUID), time-ordered.</summary>
    private static string RequestName(long n) => $"019abc{n:x26}";

    private static readonly string[] ParameterNames = ["$r", "$t", "$s", "$v", "$m", "$u"];
}
