using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using Shoppe.Cache.Benchmarks;

// The cache's load driver (docs/performance.md, "Cache"): one origin (XRootD's HTTP server), three caches in
// front of it — ours, XCache (XRootD's proxy file cache, root:// to the origin) and nginx proxy_cache — and
// the same client for all of them, in one run on loopback:
//   warm-up: each system first reads a file of its own (cold, twice warm, random ranges), untimed: a long-running
//     cache has long since compiled its code (.NET's tiered JIT takes seconds of each new kind of request),
//   cold: read the file set once through the empty cache (the origin's files are in the page cache), each system
//     in turn; all then stay up, and
//   warm: read the set again, one stream, and
//   random: 16 concurrent readers of 64 KiB random ranges for a fixed time (throughput, p50/p99 latency), and
//   wrk: the same reads driven by wrk --latency (2 threads, 16 connections, a Lua script; WrkPhase), requests/s
//     and p50/p99 as a C client sees them,
//     go round the systems in turns, three rounds (the median of each): a slow minute falls on all alike;
//   then cold again, each cache fresh, with the origin behind a link of a WAN's rate (ThrottledLink).
// Usage: dotnet run -c Release --project services/Cache/Shoppe.Cache.Benchmarks -- [set MiB] [files] [random seconds] [folder] [link Mbit/s]
// Needs the test peers (eng/install-test-deps.sh; wrk is installed here when missing) and root (the peers run as
// their own users).
var setMiB = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 1024;
var files = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 4;
var randomSeconds = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 10;
var work = args.Length > 3 ? args[3] : Path.Combine("/tmp", $"shoppe-cache-bench-{Environment.ProcessId}");
var linkMbit = args.Length > 4 ? int.Parse(args[4], CultureInfo.InvariantCulture) : 1000;
Directory.CreateDirectory(work);
File.SetUnixFileMode(work, (UnixFileMode)0b111_111_111);
Console.WriteLine($"cache benchmark: {files} files, {setMiB} MiB in all, {Readers} random readers of {RangeBytes / 1024} KiB for {randomSeconds} s, {Environment.ProcessorCount} cores, folder {work}");

var wrk = await WrkPhase.EnsureInstalledAsync();
var wrkScript = WrkPhase.WriteScript(work);
await using var peers = new Peers(work);
var fileSize = (long)setMiB * 1024 * 1024 / files;
var names = Enumerable.Range(0, files).Select(i => $"store/mc/file{i}.root").ToArray();
const string WarmupName = "store/warmup/warmup.root";
const long WarmupSize = 64L << 20;
var data = Path.Combine(work, "origin");
foreach (var name in names.Append(WarmupName))
{
    var size = name == WarmupName ? WarmupSize : fileSize;
    var path = Path.Combine(data, name);
    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
    await using var f = File.Create(path);
    var chunk = new byte[1 << 20];
    for (long written = 0; written < size; written += chunk.Length)
    {
        RandomNumberGenerator.Fill(chunk);
        await f.WriteAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, size - written)));
    }
}

Peers.OpenUp(data);
var origin = await peers.StartOriginAsync(data);
// Warm the origin's page cache so every cold read starts from the same place.
foreach (var name in names.Append(WarmupName))
{
    await File.ReadAllBytesAsync(Path.Combine(data, name));
}

var systems = new List<(string Name, Func<Task<string>> Start, Func<Task> Stop)>
{
    ("origin (direct)", () => Task.FromResult(origin), () => Task.CompletedTask),
    ("Shoppe cache", () => peers.StartShoppeAsync(origin), () => peers.StopAsync("shoppe")),
    ("XCache", () => peers.StartXCacheAsync(), () => peers.StopAsync("xcache")),
    ("nginx proxy_cache", () => peers.StartNginxAsync(origin), () => peers.StopAsync("nginx")),
};

using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = Readers * 2, UseCookies = false, AutomaticDecompression = DecompressionMethods.None };
using var client = new HttpClient(handler) { Timeout = TimeSpan.FromMinutes(10) };
client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", peers.ShoppeToken);
// Cold: each system fresh, in turn. Then all of them stay up and the warm and random phases go round them in
// turns (three rounds), so a slow minute of this shared machine falls on every system alike.
var urls = new List<string>();
var colds = new List<double>();
foreach (var (name, start, _) in systems)
{
    var url = await start();
    await WarmUpAsync(url, randomSeconds);
    var cold = await ReadSetAsync(client, url, names, fileSize);
    urls.Add(url);
    colds.Add(cold);
    Console.WriteLine($"{name,-20} cold {cold,7:N0} MiB/s");
}

var warmRuns = systems.Select(_ => new List<double>()).ToList();
var randomRuns = systems.Select(_ => new List<(double MiBps, double P50, double P99)>()).ToList();
var wrkRuns = systems.Select(_ => new List<WrkResult>()).ToList();
var bearer = $"Bearer {peers.ShoppeToken}";
for (var round = 0; round < 3; round++)
{
    for (var i = 0; i < systems.Count; i++)
    {
        warmRuns[i].Add(await ReadSetAsync(client, urls[i], names, fileSize));
        randomRuns[i].Add(await RandomRangesAsync(client, urls[i], names, fileSize, Path.Combine(data, names[0]), TimeSpan.FromSeconds(randomSeconds)));
        // Only our cache asks for a token; the others get none (an XRootD or nginx server ignores it anyway).
        var run = await WrkPhase.RunAsync(wrk, wrkScript, urls[i], systems[i].Name == "Shoppe cache" ? bearer : null, names, fileSize, RangeBytes, randomSeconds);
        wrkRuns[i].Add(run);
        Console.WriteLine($"  round {round + 1} {systems[i].Name,-20} wrk {run.RequestsPerSecond,8:N0} req/s  p50 {run.P50,6:N2} ms  p99 {run.P99,6:N2} ms{(run.Errors is null ? "" : "  " + run.Errors)}  (load {File.ReadAllText("/proc/loadavg").Split(' ')[0]})");
    }
}

var results = new List<Result>();
for (var i = 0; i < systems.Count; i++)
{
    var warm = warmRuns[i].Order().ElementAt(1);
    var random = randomRuns[i].OrderBy(r => r.MiBps).ElementAt(1);
    results.Add(new Result(systems[i].Name, colds[i], warm, random.MiBps, random.P50, random.P99));
    Console.WriteLine($"{systems[i].Name,-20} cold {colds[i],7:N0} MiB/s  warm {warm,7:N0} MiB/s ({string.Join(" ", warmRuns[i].Select(w => w.ToString("F0", CultureInfo.InvariantCulture)))})  random {random.MiBps,6:N0} MiB/s ({string.Join(" ", randomRuns[i].Select(r => r.MiBps.ToString("F0", CultureInfo.InvariantCulture)))})  p50 {random.P50,6:N2} ms  p99 {random.P99,6:N2} ms");
}

// The wrk phase: each figure the median of its three rounds, taken on its own (p99 is not the p99 of the
// median-throughput round).
var wrkMedians = wrkRuns.Select(runs => new WrkResult(
    runs.Select(r => r.RequestsPerSecond).Order().ElementAt(1), runs.Select(r => r.P50).Order().ElementAt(1), runs.Select(r => r.P99).Order().ElementAt(1), null)).ToList();
var wrkXCache = wrkMedians[systems.FindIndex(s => s.Name == "XCache")];
var wrkOrigin = wrkMedians[0];
Console.WriteLine($"wrk phase: {WrkPhase.Threads} threads, {WrkPhase.Connections} connections, random {RangeBytes / 1024} KiB ranges, {randomSeconds} s a run, median of 3 rounds");
for (var i = 0; i < systems.Count; i++)
{
    var m = wrkMedians[i];
    Console.WriteLine($"{systems[i].Name,-20} wrk {m.RequestsPerSecond,8:N0} req/s ({string.Join(" ", wrkRuns[i].Select(r => r.RequestsPerSecond.ToString("F0", CultureInfo.InvariantCulture)))})"
        + $"  p50 {m.P50,6:N2} ms ({string.Join(" ", wrkRuns[i].Select(r => r.P50.ToString("F2", CultureInfo.InvariantCulture)))})"
        + $"  p99 {m.P99,6:N2} ms ({string.Join(" ", wrkRuns[i].Select(r => r.P99.ToString("F2", CultureInfo.InvariantCulture)))})"
        + $"  req/s to XCache {m.RequestsPerSecond / wrkXCache.RequestsPerSecond:N2}, to origin {m.RequestsPerSecond / wrkOrigin.RequestsPerSecond:N2}"
        + $"  p99 to XCache {m.P99 / wrkXCache.P99:N2}, to origin {m.P99 / wrkOrigin.P99:N2}");
}

foreach (var (_, _, stop) in systems)
{
    await stop();
}

var ours = results.Single(r => r.Name == "Shoppe cache");
var direct = results.Single(r => r.Name == "origin (direct)");
foreach (var peer in results.Where(r => r.Name is "XCache" or "nginx proxy_cache"))
{
    Console.WriteLine($"ratio to {peer.Name}: cold {ours.Cold / peer.Cold:N2}, warm {ours.Warm / peer.Warm:N2}, random {ours.Random / peer.Random:N2}, random p99 {peer.P99 / ours.P99:N2} (higher is better for us)");
}

Console.WriteLine($"cold overhead against a direct origin read: {direct.Cold / ours.Cold:N2}x the time");

// Cold again with the origin behind a WAN-rate link, each cache fresh: the overhead a site's users meet.
await using var link = new ThrottledLink(linkMbit * 125_000L);
var linkUrl = $"http://127.0.0.1:{link.Relay(new Uri(origin).Port)}";
var linkRoot = link.Relay(peers.OriginDataPort);
var linked = new List<(string Name, double Cold)>();
foreach (var (name, start, stop) in new List<(string Name, Func<Task<string>> Start, Func<Task> Stop)>
{
    ("origin (direct)", () => Task.FromResult(linkUrl), () => Task.CompletedTask),
    ("Shoppe cache", () => peers.StartShoppeAsync(linkUrl), () => peers.StopAsync("shoppe")),
    ("XCache", () => peers.StartXCacheAsync(linkRoot), () => peers.StopAsync("xcache")),
    ("nginx proxy_cache", () => peers.StartNginxAsync(linkUrl), () => peers.StopAsync("nginx")),
})
{
    var url = await start();
    await ReadSetAsync(client, url, [WarmupName], WarmupSize);
    var cold = await ReadSetAsync(client, url, [names[0]], fileSize);
    linked.Add((name, cold));
    Console.WriteLine($"{name,-20} cold through a {linkMbit} Mbit/s link {cold,7:N0} MiB/s");
    await stop();
}

var linkDirect = linked.Single(l => l.Name == "origin (direct)").Cold;
Console.WriteLine("cold overhead through the link against a direct read through it: " + string.Join(", ", linked.Skip(1).Select(l => $"{l.Name} {linkDirect / l.Cold:N2}x the time")));
Console.WriteLine("RESULT " + string.Join(' ', results.Select(r => $"{r.Name.Split(' ')[0]}:cold={r.Cold:F0},warm={r.Warm:F0},random={r.Random:F0},p50={r.P50:F2},p99={r.P99:F2}"))
    + " link:" + string.Join(',', linked.Select(l => $"{l.Name.Split(' ')[0]}={l.Cold:F0}"))
    + " wrk:" + string.Join(',', systems.Select((s, i) => $"{s.Name.Split(' ')[0]}={wrkMedians[i].RequestsPerSecond:F0}/{wrkMedians[i].P50:F2}/{wrkMedians[i].P99:F2}")));

// The untimed first work of every system, on a file of its own (see the top of this file).
async Task WarmUpAsync(string url, int seconds)
{
    await ReadSetAsync(client, url, [WarmupName], WarmupSize);
    await ReadSetAsync(client, url, [WarmupName], WarmupSize);
    await ReadSetAsync(client, url, [WarmupName], WarmupSize);
    await RandomRangesAsync(client, url, [WarmupName], WarmupSize, Path.Combine(data, WarmupName), TimeSpan.FromSeconds(seconds));
}

static async Task<double> ReadSetAsync(HttpClient client, string url, string[] names, long fileSize)
{
    var buffer = new byte[1 << 20];
    var watch = Stopwatch.StartNew();
    long total = 0;
    foreach (var name in names)
    {
        using var response = await client.GetAsync($"{url}/{name}", HttpCompletionOption.ResponseHeadersRead);
        response.EnsureSuccessStatusCode();
        await using var body = await response.Content.ReadAsStreamAsync();
        long n = 0;
        int read;
        while ((read = await body.ReadAsync(buffer)) > 0)
        {
            n += read;
        }

        if (n != fileSize)
        {
            throw new InvalidOperationException($"{url}/{name}: {n} bytes, expected {fileSize}");
        }

        total += n;
    }

    return total / 1048576.0 / watch.Elapsed.TotalSeconds;
}

static async Task<(double MiBps, double P50, double P99)> RandomRangesAsync(HttpClient client, string url, string[] names, long fileSize, string firstFile, TimeSpan duration)
{
    // Spot-check the bytes first: a range of the first file against the origin's copy.
    var reference = new byte[RangeBytes];
    using (var handle = File.OpenHandle(firstFile))
    {
        RandomAccess.Read(handle, reference, 12345);
    }

    using (var check = new HttpRequestMessage(HttpMethod.Get, $"{url}/{names[0]}"))
    {
        check.Headers.Range = new RangeHeaderValue(12345, 12345 + RangeBytes - 1);
        using var response = await client.SendAsync(check);
        if (response.StatusCode != HttpStatusCode.PartialContent || !(await response.Content.ReadAsByteArrayAsync()).AsSpan().SequenceEqual(reference))
        {
            throw new InvalidOperationException($"{url}: a range read did not match the origin's bytes ({(int)response.StatusCode})");
        }
    }

    var latencies = new List<double>[Readers];
    long bytes = 0;
    var watch = Stopwatch.StartNew();
    await Task.WhenAll(Enumerable.Range(0, Readers).Select(async reader =>
    {
        var rng = new Random(reader);
        var mine = latencies[reader] = [];
        var buffer = new byte[RangeBytes];
        while (watch.Elapsed < duration)
        {
            var name = names[rng.Next(names.Length)];
            var offset = rng.NextInt64(fileSize - RangeBytes);
            using var request = new HttpRequestMessage(HttpMethod.Get, $"{url}/{name}");
            request.Headers.Range = new RangeHeaderValue(offset, offset + RangeBytes - 1);
            var t = Stopwatch.GetTimestamp();
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            await using var body = await response.Content.ReadAsStreamAsync();
            var n = 0;
            int read;
            while ((read = await body.ReadAsync(buffer.AsMemory(n))) > 0)
            {
                n += read;
            }

            mine.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
            if (response.StatusCode != HttpStatusCode.PartialContent || n != RangeBytes)
            {
                throw new InvalidOperationException($"{url}/{name}: {(int)response.StatusCode} with {n} bytes for a {RangeBytes}-byte range");
            }

            Interlocked.Add(ref bytes, n);
        }
    }));
    var elapsed = watch.Elapsed.TotalSeconds;
    var all = latencies.SelectMany(l => l).Order().ToArray();
    return (bytes / 1048576.0 / elapsed, all[all.Length / 2], all[(int)(all.Length * 0.99)]);
}

internal sealed record Result(string Name, double Cold, double Warm, double Random, double P50, double P99);

internal static partial class Program
{
    private const int Readers = 16;
    private const int RangeBytes = 64 * 1024;
}
