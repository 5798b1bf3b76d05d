using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Shoppe.Columnar.Generation;
using Shoppe.Security;
using Shoppe.Testing;
using Shoppe.Testing.Hosting;

namespace Shoppe.Delivery.Benchmarks;

/// <summary>
/// The scale-out benchmark (docs/performance.md, "Delivery at scale"), every part a real process on loopback:
///  a. a 64,000-file request: accepted, its first status, and status p99 while pilots run it;
///  b. files/s of one request of small files with 1, 2 and 4 pilots, against the service's own workers on the
///     same cores (the one-node path), with CPU seconds per file in the service and in the pilots: the scaling model;
///  c. 400 requests from 50 users at once on one node: failures, submission p99, the whole batch's time.
/// Usage: dotnet run -c Release --project services/Delivery/Shoppe.Delivery.Benchmarks -- scale [files-per-run]
/// </summary>
internal static partial class ScaleOut
{
    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "link", StringMarshalling = System.Runtime.InteropServices.StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Link(string existing, string created);

    public static async Task RunAsync(string[] args)
    {
        var perRun = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 2000;
        var root = Directory.CreateTempSubdirectory("shoppe-delivery-scale-").FullName;
        try
        {
            await RunInAsync(root, perRun);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static async Task RunInAsync(string root, int perRun)
    {
        Console.WriteLine($"Delivery scale-out benchmark: {Environment.ProcessorCount} cores; small files of 1,000 generated NanoAOD events (hard links of one file: distinct paths, one page cache)");
        var samples = Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "data"), "*.parquet").Order(StringComparer.Ordinal).ToArray();
        var one = NanoAodGenerator.Write(samples, Path.Combine(root, "gen"), 1000, 1, 1000, 2026);
        var source = Directory.GetFiles(Path.Combine(root, "gen"), "*.parquet").Single();
        var inputs = Path.Combine(root, "inputs");
        Directory.CreateDirectory(inputs);
        var names = new List<string>();
        for (var i = 0; i < 64_000; i++)
        {
            var name = Path.Combine(inputs, $"f{i:D5}.parquet");
            if (Link(source, name) != 0)
            {
                throw new IOException($"link {name}: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
            }

            names.Add(name);
        }

        Console.WriteLine($"one file: {new FileInfo(source).Length / 1024} KiB, {one.Columns.Count} columns; 64,000 names for it");
        var key = Path.Combine(root, "signing.key");
        string Token(string user, params string[] roles) => new TokenIssuer(new ShoppeSecurityOptions { SigningKeyFile = key }, TimeProvider.System).Issue(user, roles, TimeSpan.FromHours(4));
        Dictionary<string, string> Settings(string name, int workers) => new()
        {
            ["Shoppe__DataRoot"] = Path.Combine(root, name),
            ["Shoppe__Security__SigningKeyFile"] = key,
            ["Delivery__Workers"] = workers.ToString(CultureInfo.InvariantCulture),
            ["Delivery__LocalRoots__0"] = inputs,
            ["Delivery__MaxFiles"] = "100000",
            ["Logging__LogLevel__Default"] = "Warning",
        };
        string[] columns = ["MET_pt", "Muon_pt", "Jet_pt"];
        const string Filter = "MET_pt > 20";
        var report = new List<string>();

        // a. 64,000 files: accepted, first status, status while pilots run it.
        using (var processes = new ServiceProcesses())
        {
            var (service, url) = await processes.StartServiceAsync("Shoppe.Delivery.dll", Settings("a", 0), default);
            using var alice = Client(url, Token("alice"));
            var watch = Stopwatch.StartNew();
            var id = await SubmitAsync(alice, names, columns, Filter);
            var accepted = watch.Elapsed.TotalMilliseconds;
            await alice.GetStringAsync($"/v1/transforms/{id}");
            var firstStatus = watch.Elapsed.TotalMilliseconds;
            for (var i = 0; i < 2; i++)
            {
                processes.StartPilot([url], Token("facility", ShoppeClaims.PilotRole), Path.Combine(root, $"pilot-a{i}"));
            }

            await WaitDoneAsync(alice, id, 1);
            var latencies = new List<double>();
            var polls = Stopwatch.StartNew();
            while (polls.Elapsed < TimeSpan.FromSeconds(30))
            {
                var one2 = Stopwatch.StartNew();
                await alice.GetStringAsync($"/v1/transforms/{id}");
                latencies.Add(one2.Elapsed.TotalMilliseconds);
                await Task.Delay(20);
            }

            var status = JsonDocument.Parse(await alice.GetStringAsync($"/v1/transforms/{id}")).RootElement;
            var done = status.GetProperty("filesDone").GetInt32();
            await alice.DeleteAsync($"/v1/transforms/{id}");
            latencies.Sort();
            report.Add($"a. 64,000-file request: accepted in {accepted:F0} ms, first status at {firstStatus:F0} ms; status while 2 pilots ran it ({done:N0} files done in the window): "
                + $"p50 {Percentile(latencies, 0.5):F1} ms, p99 {Percentile(latencies, 0.99):F1} ms over {latencies.Count} polls");
            Console.WriteLine(report[^1]);
            _ = service;
        }

        // b. One request of perRun files: the service's own 2 workers, then 1, 2 and 4 one-core pilots (workers off).
        var runs = new List<(string Name, double FilesPerSecond, double ServiceCpuMs, double PilotCpuMs)>();
        foreach (var pilots in new[] { 0, 1, 2, 4 })
        {
            using var processes = new ServiceProcesses();
            var (service, url) = await processes.StartServiceAsync("Shoppe.Delivery.dll", Settings($"b{pilots}", pilots == 0 ? 2 : 0), default);
            using var alice = Client(url, Token("alice"));
            var started = new List<Process>();
            for (var i = 0; i < pilots; i++)
            {
                started.Add(processes.StartPilot([url], Token("facility", ShoppeClaims.PilotRole), Path.Combine(root, $"pilot-b{pilots}-{i}")));
            }

            // Warm: one small request through every worker's path, untimed.
            await WaitDoneAsync(alice, await SubmitAsync(alice, names.Skip(60_000).Take(Math.Max(4, pilots * 2)).ToList(), columns, Filter), -1);
            var serviceCpu = service.TotalProcessorTime;
            var pilotCpu = started.Sum(p => p.TotalProcessorTime.TotalMilliseconds);
            var watch = Stopwatch.StartNew();
            var id = await SubmitAsync(alice, names.Skip(pilots * perRun % 50_000).Take(perRun).ToList(), columns, Filter);
            await WaitDoneAsync(alice, id, -1);
            var seconds = watch.Elapsed.TotalSeconds;
            service.Refresh();
            var serviceMs = (service.TotalProcessorTime - serviceCpu).TotalMilliseconds / perRun;
            var pilotMs = (started.Sum(p => { p.Refresh(); return p.TotalProcessorTime.TotalMilliseconds; }) - pilotCpu) / perRun;
            runs.Add((pilots == 0 ? "service's own 2 workers" : $"{pilots} pilot{(pilots == 1 ? "" : "s")} (1 core each)", perRun / seconds, serviceMs, pilotMs));
            Console.WriteLine($"b. {runs[^1].Name}: {perRun} files in {seconds:F1} s = {perRun / seconds:F0} files/s; CPU per file: service {serviceMs:F2} ms, pilots {pilotMs:F2} ms");
        }

        var baseline = runs[0].FilesPerSecond;
        foreach (var run in runs)
        {
            report.Add($"b. {run.Name}: {run.FilesPerSecond:F0} files/s ({run.FilesPerSecond / baseline:F2}x the service's own workers); CPU per file: service {run.ServiceCpuMs:F2} ms, pilots {run.PilotCpuMs:F2} ms");
        }

        // c. 400 requests from 50 users at once, 5 files each, on one node (the service's 2 workers and 2 pilots).
        using (var processes = new ServiceProcesses())
        {
            var (_, url) = await processes.StartServiceAsync("Shoppe.Delivery.dll", Settings("c", 2), default);
            for (var i = 0; i < 2; i++)
            {
                processes.StartPilot([url], Token("facility", ShoppeClaims.PilotRole), Path.Combine(root, $"pilot-c{i}"));
            }

            var clients = Enumerable.Range(0, 50).Select(u => Client(url, Token($"user{u:D2}"))).ToArray();
            var submitted = new List<double>();
            var failures = 0;
            var watch = Stopwatch.StartNew();
            var all = Enumerable.Range(0, 400).Select(async r =>
            {
                var client = clients[r % 50];
                try
                {
                    var one3 = Stopwatch.StartNew();
                    var id = await SubmitAsync(client, names.Skip(r * 5).Take(5).ToList(), columns, Filter);
                    lock (submitted)
                    {
                        submitted.Add(one3.Elapsed.TotalMilliseconds);
                    }

                    await WaitDoneAsync(client, id, -1, pollMs: 200);
                }
                catch (Exception ex) when (ex is InvalidOperationException or HttpRequestException)
                {
                    Interlocked.Increment(ref failures);
                    Console.Error.WriteLine(ex.Message);
                }
            }).ToList();
            await Task.WhenAll(all);
            var total = watch.Elapsed.TotalSeconds;
            submitted.Sort();
            report.Add($"c. 400 requests (5 files each) from 50 users at once: {failures} failed; submission p50 {Percentile(submitted, 0.5):F0} ms, p99 {Percentile(submitted, 0.99):F0} ms; all 2,000 files done in {total:F1} s ({2000 / total:F0} files/s)");
            Console.WriteLine(report[^1]);
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }

        Console.WriteLine();
        Console.WriteLine("Summary:");
        foreach (var line in report)
        {
            Console.WriteLine(line);
        }
    }

    private static HttpClient Client(Uri url, string token)
    {
        var client = new HttpClient { BaseAddress = url, Timeout = TimeSpan.FromMinutes(10) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    private static async Task<string> SubmitAsync(HttpClient client, IReadOnlyList<string> dataset, string[] columns, string filter)
    {
        using var response = await client.PostAsJsonAsync("/v1/transforms", new { dataset, columns, filter });
        var body = await response.Content.ReadAsStringAsync();
        return response.IsSuccessStatusCode
            ? JsonDocument.Parse(body).RootElement.GetProperty("requestId").GetString()!
            : throw new InvalidOperationException($"submission refused ({(int)response.StatusCode}): {body}");
    }

    /// <summary>Waits until <paramref name="files"/> files are done (-1: until the transform is complete).</summary>
    private static async Task WaitDoneAsync(HttpClient client, string id, int files, int pollMs = 20)
    {
        while (true)
        {
            var status = JsonDocument.Parse(await client.GetStringAsync($"/v1/transforms/{id}")).RootElement;
            var state = status.GetProperty("state").GetString();
            if (files >= 0 && status.GetProperty("filesDone").GetInt32() >= files)
            {
                return;
            }

            if (state is "complete")
            {
                return;
            }

            if (state is "partial" or "failed" or "cancelled")
            {
                throw new InvalidOperationException($"transform {id} ended {state}: {status.GetProperty("errors")}");
            }

            await Task.Delay(pollMs);
        }
    }

    private static double Percentile(List<double> sorted, double p) => sorted.Count == 0 ? 0 : sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];
}
