// The workflow benchmark (docs/performance.md, "Workflow"), every peer in the same run on the same cores:
//  a. a layered random DAG of no-op jobs (fan-in 2) through the real service (its own process, SQLite) and local
//     pilots (`shoppe pilot` processes): submission time, jobs dispatched per second, the service's memory per job;
//  b. the same DAG shape in Dask distributed (Debian's python3-distributed, two single-thread workers): jobs/s ratio;
//  c. per-job Slurm submission (one `sbatch` per job through slurmrestd, in DAG order) next to our pilots;
//  d. submit-to-start latency of a one-job workflow with warm pilots, p50 and p99.
// Usage: dotnet run -c Release --project services/Workflow/Shoppe.Workflow.Benchmarks -- [jobs] [daskJobs] [phases]
//   jobs: the big DAG (default 1 000 000); daskJobs: the DAG both run for the ratio (default 100 000);
//   phases: any of a,b,c,d (default a,b,d; c needs eng/slurm-cluster.sh and takes minutes).
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Shoppe.Security;
using Shoppe.Testing;
using Shoppe.Testing.Workflow;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
var bigJobs = args.Length > 0 ? long.Parse(args[0], CultureInfo.InvariantCulture) : 1_000_000;
var daskJobs = args.Length > 1 ? long.Parse(args[1], CultureInfo.InvariantCulture) : 100_000;
var phases = (args.Length > 2 ? args[2] : "a,b,d").Split(',');
const int Width = 1000;
const int Pilots = 2;
var root = Directory.CreateTempSubdirectory("shoppe-workflow-bench-").FullName;
var key = Path.Combine(root, "signing.key");
var issuer = new TokenIssuer(new ShoppeSecurityOptions { SigningKeyFile = key }, TimeProvider.System);
Console.WriteLine($"Workflow benchmark: {Environment.ProcessorCount} cores, {Pilots} local pilots, DAG width {Width}, fan-in 2");
var rows = new List<string>();

if (phases.Contains("a") || phases.Contains("b"))
{
    var ours = phases.Contains("b") ? await RunOursAsync(daskJobs, "ratio") : default;
    if (phases.Contains("b"))
    {
        var dask = RunDask(daskJobs);
        rows.Add($"| {daskJobs:N0}-job DAG, jobs/s | {ours.JobsPerSecond:N0} | Dask {dask.JobsPerSecond:N0} | **{ours.JobsPerSecond / dask.JobsPerSecond:F1}x** |");
        rows.Add($"| {daskJobs:N0}-job DAG, scheduler memory per job | {ours.BytesPerJob:N0} B | Dask {dask.BytesPerJob:N0} B | {dask.BytesPerJob / Math.Max(1, ours.BytesPerJob):F1}x less |");
    }

    if (phases.Contains("a"))
    {
        var big = await RunOursAsync(bigJobs, "big");
        rows.Add($"| {bigJobs:N0}-job DAG: submission | {big.SubmitSeconds:F1} s ({bigJobs / big.SubmitSeconds:N0} jobs/s) | | |");
        rows.Add($"| {bigJobs:N0}-job DAG: dispatched | {big.JobsPerSecond:N0} jobs/s ({big.RunSeconds:F0} s) | | |");
        rows.Add($"| {bigJobs:N0}-job DAG: service memory per job | {big.BytesPerJob:N0} B (peak RSS {big.PeakMb:N0} MB) | | |");
    }
}

if (phases.Contains("c"))
{
    var (slurmRate, oursRate) = await PerJobSlurmAsync(500, 50);
    rows.Add($"| 500-job DAG of `true` commands, jobs/s | {oursRate:F1} (2 local pilots) | Slurm, a job per job (afterok dependencies) {slurmRate:F2} | **{oursRate / slurmRate:F0}x** |");
}

if (phases.Contains("d"))
{
    var (p50, p99) = await LatencyAsync(200);
    rows.Add($"| submit-to-start, warm pilots (200 one-job workflows) | p50 {p50:F1} ms, p99 {p99:F1} ms | | |");
}

Console.WriteLine();
Console.WriteLine("| measure | Coffea Shoppe | peer | ratio |");
Console.WriteLine("|---|---|---|---|");
rows.ForEach(Console.WriteLine);
await TestFolders.DeleteAsync(root);
return;

async Task<Run> RunOursAsync(long jobs, string name)
{
    await using var service = await Service.StartAsync(root, key, name);
    using var client = new HttpClient { BaseAddress = service.Url, Timeout = TimeSpan.FromHours(1) };
    client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", issuer.Issue("alice", [], TimeSpan.FromHours(4)));
    var baseline = service.RssBytes();
    var dag = new LayeredDag(jobs, Width);
    var submit = Stopwatch.StartNew();
    using var content = new DagContent(dag);
    using var response = await client.PostAsync("/v1/workflows", content);
    var body = await response.Content.ReadAsStringAsync();
    if (!response.IsSuccessStatusCode)
    {
        throw new InvalidOperationException($"submission refused: {body}");
    }

    submit.Stop();
    var id = JsonNode.Parse(body)!["id"]!.GetValue<string>();
    Console.WriteLine($"[{name}] {jobs:N0} jobs submitted in {submit.Elapsed.TotalSeconds:F1} s; service RSS {service.RssBytes() / 1e6:N0} MB");
    var run = Stopwatch.StartNew();
    var pilots = Enumerable.Range(0, Pilots).Select(i => service.StartPilot(issuer.Issue("facility", ["pilot"], TimeSpan.FromHours(4)), Path.Combine(root, $"{name}-pilot-{i}"))).ToList();
    var peak = 0L;
    while (true)
    {
        peak = Math.Max(peak, service.RssBytes());
        var status = JsonNode.Parse(await client.GetStringAsync($"/v1/workflows/{id}"))!;
        var done = status["jobs"]!["succeeded"]?.GetValue<long>() ?? 0;
        if (status["state"]!.GetValue<string>() != "running")
        {
            run.Stop();
            Console.WriteLine($"[{name}] {status["state"]} after {run.Elapsed.TotalSeconds:F1} s: {done:N0} jobs, {done / run.Elapsed.TotalSeconds:N0} jobs/s");
            break;
        }

        Console.WriteLine($"[{name}] {done:N0} of {jobs:N0} done, {done / run.Elapsed.TotalSeconds:N0} jobs/s, service RSS {service.RssBytes() / 1e6:N0} MB");
        await Task.Delay(jobs > 200_000 ? 5000 : 1000);
    }

    peak = Math.Max(peak, service.PeakRssBytes());
    pilots.ForEach(p => p.Kill(entireProcessTree: true));
    return new Run(submit.Elapsed.TotalSeconds, run.Elapsed.TotalSeconds, jobs / run.Elapsed.TotalSeconds, (peak - baseline) / (double)jobs, peak / 1e6);
}

Run RunDask(long jobs)
{
    var script = Path.Combine(AppContext.BaseDirectory, "peers", "dask_dag.py");
    var start = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, UseShellExecute = false };
    foreach (var a in new[] { script, "--jobs", jobs.ToString(CultureInfo.InvariantCulture), "--width", Width.ToString(CultureInfo.InvariantCulture), "--fanin", "2", "--seed", "1", "--workers", "2", "--threads-per-worker", "1", "--json" })
    {
        start.ArgumentList.Add(a);
    }

    using var process = Process.Start(start)!;
    var output = process.StandardOutput.ReadToEnd();
    process.WaitForExit();
    var json = JsonNode.Parse(output.Trim().Split('\n')[^1])!;
    Console.WriteLine($"[dask] {output.Trim().Split('\n')[^1]}");
    double Number(params string[] names) => names.Select(n => json[n]).First(n => n is not null)!.GetValue<double>();
    return new Run(0, Number("run_s", "run_seconds"), Number("jobs_per_s", "jobs_per_second"), Number("scheduler_bytes_per_job", "scheduler_per_job_bytes"), 0);
}

async Task<(double P50, double P99)> LatencyAsync(int count)
{
    await using var service = await Service.StartAsync(root, key, "latency");
    using var client = new HttpClient { BaseAddress = service.Url };
    client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", issuer.Issue("alice", [], TimeSpan.FromHours(4)));
    var pilots = Enumerable.Range(0, Pilots).Select(i => service.StartPilot(issuer.Issue("facility", ["pilot"], TimeSpan.FromHours(4)), Path.Combine(root, $"latency-pilot-{i}"))).ToList();
    await Task.Delay(3000); // Warm: the pilots are waiting in their long poll.
    var latencies = new List<double>();
    for (var i = 0; i < count + 10; i++)
    {
        var submitted = DateTimeOffset.UtcNow;
        using var content = new StringContent("""{ "works": [ { "name": "one", "action": "command", "command": { "argv": ["true"] } } ] }""", System.Text.Encoding.UTF8, "application/json");
        using var response = await client.PostAsync("/v1/workflows", content);
        var id = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["id"]!.GetValue<string>();
        JsonNode job;
        while ((job = JsonNode.Parse(await client.GetStringAsync($"/v1/workflows/{id}/jobs"))!["jobs"]![0]!)["started"] is null)
        {
            await Task.Delay(5);
        }

        if (i >= 10)
        {
            latencies.Add((job["started"]!.GetValue<DateTimeOffset>() - submitted).TotalMilliseconds);
        }
    }

    pilots.ForEach(p => p.Kill(entireProcessTree: true));
    latencies.Sort();
    return (latencies[latencies.Count / 2], latencies[(int)Math.Ceiling(latencies.Count * 0.99) - 1]);
}

async Task<(double Slurm, double Ours)> PerJobSlurmAsync(int jobs, int width)
{
    var dag = new LayeredDag(jobs, width);
    var cluster = new SlurmCluster();
    await cluster.InitializeAsync();
    if (cluster.Unavailable is { } why)
    {
        throw new InvalidOperationException(why);
    }

    double slurmRate;
    try
    {
        using var http = new HttpClient();
        var client = new Shoppe.Workflow.Slurm.SlurmRestClient(http, new Uri(cluster.RestUrl), cluster.UserName, async ct => await cluster.MintTokenAsync(null, null, ct));
        var folder = cluster.CreateJobFolder();
        var ids = new long[jobs];
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < jobs; i++)
        {
            ids[i] = await client.SubmitAsync(new Shoppe.Workflow.Slurm.SlurmJobRequest
            {
                Name = $"bench-{i}",
                Script = "#!/bin/sh\ntrue\n",
                WorkingDirectory = folder,
                CpusPerTask = 1,
                AfterOk = dag.Parents(i).Select(p => ids[p]).ToList(),
            });
        }

        Console.WriteLine($"[slurm] {jobs} jobs submitted in {clock.Elapsed.TotalSeconds:F1} s");
        while (true)
        {
            var mine = (await client.ListJobsAsync()).Where(j => j.Name.StartsWith("bench-", StringComparison.Ordinal)).ToList();
            var done = mine.Count(j => j.IsEnded);
            if (done >= jobs)
            {
                break;
            }

            Console.WriteLine($"[slurm] {done} of {jobs} ended after {clock.Elapsed.TotalSeconds:F0} s");
            await Task.Delay(5000);
        }

        slurmRate = jobs / clock.Elapsed.TotalSeconds;
        Console.WriteLine($"[slurm] {jobs} jobs in {clock.Elapsed.TotalSeconds:F1} s: {slurmRate:F2} jobs/s");
    }
    finally
    {
        await cluster.DisposeAsync();
    }

    // Ours: the same DAG, each job a `true` process, through the service and two local pilots.
    await using var service = await Service.StartAsync(root, key, "per-job");
    using var api = new HttpClient { BaseAddress = service.Url };
    api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", issuer.Issue("alice", [], TimeSpan.FromHours(4)));
    var document = new System.Text.StringBuilder("""{ "works": [ { "name": "t", "action": "command", "command": { "argv": ["true"] } } ], "jobs": [""");
    for (var i = 0; i < jobs; i++)
    {
        var after = string.Join(",", dag.Parents(i).Select(p => $"\"j{p}\""));
        document.Append(i == 0 ? "" : ",").Append($$"""{ "name": "j{{i}}", "work": "t", "after": [{{after}}] }""");
    }

    document.Append("] }");
    var pilots = Enumerable.Range(0, Pilots).Select(i => service.StartPilot(issuer.Issue("facility", ["pilot"], TimeSpan.FromHours(4)), Path.Combine(root, $"per-job-pilot-{i}"))).ToList();
    await Task.Delay(3000);
    var ours = Stopwatch.StartNew();
    using var content = new StringContent(document.ToString(), System.Text.Encoding.UTF8, "application/json");
    using var response = await api.PostAsync("/v1/workflows", content);
    var id = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["id"]!.GetValue<string>();
    while (JsonNode.Parse(await api.GetStringAsync($"/v1/workflows/{id}"))!["state"]!.GetValue<string>() == "running")
    {
        await Task.Delay(100);
    }

    ours.Stop();
    pilots.ForEach(p => p.Kill(entireProcessTree: true));
    Console.WriteLine($"[ours] {jobs} `true` jobs in {ours.Elapsed.TotalSeconds:F1} s: {jobs / ours.Elapsed.TotalSeconds:F1} jobs/s");
    return (slurmRate, jobs / ours.Elapsed.TotalSeconds);
}

/// <summary>One run's figures.</summary>
internal readonly record struct Run(double SubmitSeconds, double RunSeconds, double JobsPerSecond, double BytesPerJob, double PeakMb);

/// <summary>The DAG written into the request as it is sent: the driver never holds the document either.</summary>
internal sealed class DagContent : HttpContent
{
    private readonly LayeredDag _dag;

    public DagContent(LayeredDag dag)
    {
        _dag = dag;
        Headers.ContentType = new MediaTypeHeaderValue("application/json");
    }

    protected override Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context) => _dag.WriteDocumentAsync(stream, $"layered-{_dag.Jobs}");

    protected override bool TryComputeLength(out long length)
    {
        length = 0;
        return false;
    }
}

/// <summary>The workflow service as its own process on a free loopback port, and pilots for it.</summary>
internal sealed class Service : IAsyncDisposable
{
    private readonly Process _process;

    private Service(Process process, Uri url)
    {
        _process = process;
        Url = url;
    }

    public Uri Url { get; }

    public static async Task<Service> StartAsync(string root, string key, string name)
    {
        var port = Loopback.FreePort();
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Shoppe.Workflow.dll"));
        start.ArgumentList.Add($"--urls=http://127.0.0.1:{port}");
        start.Environment["Shoppe__DataRoot"] = Path.Combine(root, name);
        start.Environment["Shoppe__Security__SigningKeyFile"] = key;
        start.Environment["OTEL_SDK_DISABLED"] = "true";
        start.Environment["Logging__LogLevel__Default"] = "Warning";
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { } line)
            {
                Console.Error.WriteLine($"[service] {line}");
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var url = new Uri($"http://127.0.0.1:{port}");
        await Loopback.WaitAliveAsync(url.ToString().TrimEnd('/'), TimeSpan.FromSeconds(60));
        return new Service(process, url);
    }

    public Process StartPilot(string token, string folder)
    {
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "shoppe.dll"), "pilot", "--server", Url.ToString(), "--work-dir", folder })
        {
            start.ArgumentList.Add(a);
        }

        start.Environment["SHOPPE_TOKEN"] = token;
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        return process;
    }

    public long RssBytes() => Status("VmRSS:");

    public long PeakRssBytes() => Status("VmHWM:");

    private long Status(string field)
    {
        try
        {
            var line = File.ReadLines($"/proc/{_process.Id}/status").First(l => l.StartsWith(field, StringComparison.Ordinal));
            return long.Parse(line[field.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
        }
        catch (IOException)
        {
            return 0;
        }
    }

    public ValueTask DisposeAsync()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }
        catch (InvalidOperationException)
        {
            // Ended already.
        }

        _process.Dispose();
        return ValueTask.CompletedTask;
    }
}
