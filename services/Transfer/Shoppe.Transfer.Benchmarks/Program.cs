// The transfer benchmark (docs/performance.md, "Transfer"): HTTP-TPC pull copies on loopback between two of our
// endpoints and between two XRootD endpoints in the same run, with `cp` on the same disk as the limit. Each pair
// first copies a few files untimed (a long-running service has compiled its code), and every timed phase starts
// after `sync`, so no phase pays for the write-back of the one before it.
// Usage: dotnet run -c Release --project services/Transfer/Shoppe.Transfer.Benchmarks -- [big MiB] [small files] [folder]
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using Shoppe.Security;
using Shoppe.Testing;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
var bigMiB = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 1024;
var smallCount = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 1000;
var work = args.Length > 2 ? Path.GetFullPath(args[2]) : Path.Combine(Path.GetTempPath(), "shoppe-transfer-bench");
const int SmallBytes = 1 << 20;
const int Concurrency = 8;
if (Directory.Exists(work))
{
    Directory.Delete(work, recursive: true);
}

Directory.CreateDirectory(work);
Console.WriteLine($"Transfer benchmark: {bigMiB} MiB file, {smallCount} x 1 MiB files ({Concurrency} at a time), pull copies on loopback; {Environment.ProcessorCount} cores");
await using var xrdA = await XrootdPeer.StartAsync(work, new XrootdOptions { Name = "xrdA", ThirdPartyCopy = true });
await using var xrdB = await XrootdPeer.StartAsync(work, new XrootdOptions { Name = "xrdB", ThirdPartyCopy = true });
var key = Path.Combine(work, "keys", "signing.key");
LocalSigningKey.LoadOrCreate(key);
var issuer = new TokenIssuer(new ShoppeSecurityOptions { SigningKeyFile = key }, TimeProvider.System);
var token = issuer.Issue("bench", [], TimeSpan.FromHours(2), "storage.read:/ storage.modify:/");
var (oursA, oursAUrl, oursAStorage) = Start("a");
var (oursB, oursBUrl, oursBStorage) = Start("b");
await Loopback.WaitAliveAsync(oursAUrl);
await Loopback.WaitAliveAsync(oursBUrl);

// The data: one big random file and many small ones, on both sources; `cp` of the big file is the disk's limit.
var big = Path.Combine(xrdA.Data, "big.bin");
await using (var file = File.Create(big))
{
    var block = new byte[1 << 20];
    for (var i = 0; i < bigMiB; i++)
    {
        RandomNumberGenerator.Fill(block);
        file.Write(block);
    }
}

Directory.CreateDirectory(oursAStorage);
Directory.CreateDirectory(oursBStorage);
var cpSeconds = new List<double>();
for (var run = 0; run < 3; run++)
{
    var target = Path.Combine(oursAStorage, "big.bin");
    File.Delete(target);
    await SyncAsync();
    var watch = Stopwatch.StartNew();
    using var cp = Process.Start("cp", [big, target]);
    await cp.WaitForExitAsync();
    cpSeconds.Add(watch.Elapsed.TotalSeconds);
}

var small = new byte[SmallBytes];
for (var i = 0; i < smallCount; i++)
{
    RandomNumberGenerator.Fill(small);
    File.WriteAllBytes(Path.Combine(xrdA.Data, $"s{i:D4}.bin"), small);
    File.WriteAllBytes(Path.Combine(oursAStorage, $"s{i:D4}.bin"), small);
}

using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = Concurrency * 2 }) { Timeout = TimeSpan.FromMinutes(30) };
var rows = new List<string>();
var cpMiBs = bigMiB / Median(cpSeconds);
rows.Add($"| cp of the {bigMiB} MiB file on the same disk (the limit) | {cpMiBs:F0} MiB/s | | |");
foreach (var (label, source, destination, destinationData, auth) in new[]
{
    ("XRootD -> XRootD", xrdA.Url, xrdB.Url, xrdB.Data, false),
    ("ours -> ours", oursAUrl, oursBUrl, oursBStorage, true),
})
{
    // Untimed: as many small files as the timed phase and two copies of the big one (.NET's tiered JIT was still
    // busy with a third of the CPU in the timed runs after a warm-up of 200 files and one big copy).
    await Task.WhenAll(Enumerable.Range(0, smallCount).Select(i => CopyAsync(http, $"{destination}/w{i:D4}.bin", $"{source}/s{i:D4}.bin", auth ? token : null)));
    await CopyAsync(http, $"{destination}/big-copy.bin", $"{source}/big.bin", auth ? token : null);
    await CopyAsync(http, $"{destination}/big-copy.bin", $"{source}/big.bin", auth ? token : null);
    var bigRuns = new List<double>();
    for (var run = 0; run < 3; run++)
    {
        File.Delete(Path.Combine(destinationData, "big-copy.bin"));
        await SyncAsync();
        var watch = Stopwatch.StartNew();
        await CopyAsync(http, $"{destination}/big-copy.bin", $"{source}/big.bin", auth ? token : null);
        bigRuns.Add(watch.Elapsed.TotalSeconds);
    }

    await SyncAsync();
    var smallWatch = Stopwatch.StartNew();
    using var gate = new SemaphoreSlim(Concurrency);
    await Task.WhenAll(Enumerable.Range(0, smallCount).Select(async i =>
    {
        await gate.WaitAsync();
        try
        {
            await CopyAsync(http, $"{destination}/c{i:D4}.bin", $"{source}/s{i:D4}.bin", auth ? token : null);
        }
        finally
        {
            gate.Release();
        }
    }));
    smallWatch.Stop();
    var bigMiBs = bigMiB / Median(bigRuns);
    rows.Add($"| {label}: {bigMiB} MiB pull | {bigMiBs:F0} MiB/s (runs {string.Join(", ", bigRuns.Select(r => $"{bigMiB / r:F0}"))}) | | {bigMiBs / cpMiBs:F2} of cp |");
    rows.Add($"| {label}: {smallCount} x 1 MiB pulls | {smallCount / smallWatch.Elapsed.TotalSeconds:F0} files/s, {smallCount / smallWatch.Elapsed.TotalSeconds:F0} MiB/s | | |");
    Console.WriteLine(rows[^2]);
    Console.WriteLine(rows[^1]);
}

Console.WriteLine();
Console.WriteLine("| measure | result | | ratio |");
Console.WriteLine("|---|---|---|---|");
rows.ForEach(Console.WriteLine);
oursA.Kill(entireProcessTree: true);
oursB.Kill(entireProcessTree: true);
return 0;

(Process Process, string Url, string Storage) Start(string name)
{
    var port = Loopback.FreePort();
    var storage = Path.Combine(work, "ours-" + name, "storage");
    // As a facility runs it: in the folder of its files (its appsettings.json), logging as configured there.
    var start = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "Shoppe.Transfer.dll")])
    {
        RedirectStandardOutput = true,
        RedirectStandardError = true,
        WorkingDirectory = AppContext.BaseDirectory,
    };
    start.Environment["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}";
    start.Environment["DOTNET_ENVIRONMENT"] = "Production";
    start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
    start.Environment["Shoppe__DataRoot"] = Path.Combine(work, "ours-" + name);
    start.Environment["Shoppe__Security__SigningKeyFile"] = key;
    var process = Process.Start(start)!;
    process.OutputDataReceived += (_, _) => { };
    process.ErrorDataReceived += (_, e) =>
    {
        if (e.Data is not null)
        {
            Console.Error.WriteLine($"[ours-{name}] {e.Data}");
        }
    };
    process.BeginOutputReadLine();
    process.BeginErrorReadLine();
    return (process, $"http://127.0.0.1:{port}", storage);
}

static async Task CopyAsync(HttpClient http, string destination, string source, string? token)
{
    using var request = new HttpRequestMessage(new HttpMethod("COPY"), destination);
    request.Headers.TryAddWithoutValidation("Source", source);
    request.Headers.TryAddWithoutValidation("Credential", "none");
    if (token is not null)
    {
        request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + token);
        request.Headers.TryAddWithoutValidation("TransferHeaderAuthorization", "Bearer " + token);
    }

    using var response = await http.SendAsync(request);
    var body = await response.Content.ReadAsStringAsync();
    if (response.StatusCode is not (HttpStatusCode.Created or HttpStatusCode.Accepted) || !body.Contains("success: Created", StringComparison.Ordinal))
    {
        throw new InvalidOperationException($"COPY {source} -> {destination}: {(int)response.StatusCode} {body}");
    }
}

static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);

// What earlier phases wrote goes to the disk now, not during the next phase.
static async Task SyncAsync()
{
    using var sync = Process.Start("sync")!;
    await sync.WaitForExitAsync();
}
