// Portal page times under load (issue 20's figures, docs/performance.md "Portal"): the whole facility as processes
// from this build; a user with 1,000 requests (deliveries) and one of them with 100,000 log lines. Once the facility
// has settled, Chromium (Playwright) measures when a request page's first log line is painted; then 50 readers on
// loopback, each signed in with its own cookie, read each page for a fixed time: back to back, then pausing between
// pages as people do. The peer is the logs service's own HTML page of the same request's first lines (how a user reads
// them without the portal), measured the same ways in the same run.
// Usage: dotnet run -c Release --project services/Portal/Shoppe.Portal.Benchmarks -- [readers] [seconds] [requests] [lines]
// Or `-- screenshots <folder>` (eng/portal-screenshots.sh): the pages of a small facility as PNGs for docs/portal.md.
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Google.Protobuf;
using Microsoft.Playwright;
using Shoppe.Conformance;
using Shoppe.Logs.Otlp.Collector;
using Shoppe.Logs.Otlp.Common;
using Shoppe.Logs.Otlp.Logs;
using Shoppe.Portal.SignIn;
using Shoppe.Testing;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
if (args.Length == 2 && args[0] == "screenshots")
{
    await Shoppe.Portal.Benchmarks.Screenshots.TakeAsync(Path.GetFullPath(args[1]));
    return 0;
}

var readers = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 50;
var seconds = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 15;
var requests = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 1000;
var lines = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 100_000;
var pacedSeconds = 3 * seconds; // readers who pause read fewer pages: three times as long for as many
const string User = "reader";
const int PageLines = 200; // the portal's log page (Request.razor's PageLines); the peer reads as many
static TimeSpan Pause() => TimeSpan.FromMilliseconds(Random.Shared.Next(0, 2000));
const string Password = "load test password";

var run = Directory.CreateTempSubdirectory("shoppe-portal-bench-").FullName;
await using var facility = LocalProcessEnvironment.FromBuild(Repository.Root, "Release", Path.Combine(run, "facility"));
Console.WriteLine($"Portal load: {readers} readers, {seconds} s a page, {requests:N0} requests, {lines:N0} log lines; {Environment.ProcessorCount} cores");
await facility.StartAsync(new Progress<string>(_ => { }), CancellationToken.None);
new LocalAccounts(Path.Combine(facility.DataFolder("portal"), "accounts.json")).Set(User, isOperator: false, Password);
var portal = facility.Services["portal"];

// 1,000 deliveries of the user's (the same query: after the first, outputs are reused).
using var delivery = new HttpClient { BaseAddress = facility.Services["delivery"] };
delivery.DefaultRequestHeaders.Authorization = new("Bearer", facility.Token(User));
string[] metColumn = ["MET_pt"];
var ids = new List<string>();
var watch = Stopwatch.StartNew();
for (var i = 0; i < requests; i++)
{
    using var created = await delivery.PostAsJsonAsync("v1/transforms", new { dataset = facility.Dataset, columns = metColumn, filter = "nMuon >= 1" });
    created.EnsureSuccessStatusCode();
    ids.Add(JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement.GetProperty("requestId").GetString()!);
}

Console.WriteLine($"submitted {requests:N0} deliveries in {watch.Elapsed.TotalSeconds:F1} s");

// 100,000 lines for the newest, written as services export them (OTLP, the service's token), 10,000 a batch.
var logged = ids[^1];
using var logs = new HttpClient { BaseAddress = facility.Services["logs"] };
logs.DefaultRequestHeaders.Authorization = new("Bearer", facility.ServiceToken("delivery"));
var start = (ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000_000;
for (var batch = 0; batch < lines; batch += 10_000)
{
    var scope = new ScopeLogs();
    for (var i = batch; i < Math.Min(lines, batch + 10_000); i++)
    {
        var record = new LogRecord { TimeUnixNano = start + (ulong)i * 1000, SeverityNumber = i % 97 == 0 ? SeverityNumber.Warn : SeverityNumber.Info, Body = new AnyValue { StringValue = $"file {i % 2}: batch {i} of the load test, {i * 37 % 1000} events passed" } };
        record.Attributes.Add(new KeyValue { Key = Shoppe.ServiceDefaults.ShoppeAttributes.RequestId, Value = new AnyValue { StringValue = logged } });
        record.Attributes.Add(new KeyValue { Key = Shoppe.ServiceDefaults.ShoppeAttributes.EndUser, Value = new AnyValue { StringValue = User } });
        scope.LogRecords.Add(record);
    }

    var export = new ExportLogsServiceRequest();
    var resource = new ResourceLogs { Resource = new Shoppe.Logs.Otlp.Resource.Resource() };
    resource.Resource.Attributes.Add(new KeyValue { Key = "service.name", Value = new AnyValue { StringValue = "delivery" } });
    resource.ScopeLogs.Add(scope);
    export.ResourceLogs.Add(resource);
    using var content = new ByteArrayContent(export.ToByteArray());
    content.Headers.ContentType = new("application/x-protobuf");
    using var posted = await logs.PostAsync("v1/logs", content);
    posted.EnsureSuccessStatusCode();
}

Console.WriteLine($"wrote {lines:N0} log lines for {logged}");

// Each reader signs in through the form, as a browser does (antiforgery token, cookie).
var clients = new List<HttpClient>();
for (var r = 0; r < readers; r++)
{
    clients.Add(await SignInAsync(portal, User, Password));
}

var peerToken = facility.Token(User);

// The facility settles before anything is measured: every delivery has ended, a text search waits until the logs
// service has indexed every line written above, and the services' own export of that work has a few seconds to land.
while (true)
{
    // A transform has its "finished" time once it has ended, whichever way (as the portal's rows read it).
    using var list = JsonDocument.Parse(await delivery.GetStringAsync(new Uri("v1/transforms?limit=1000", UriKind.Relative)));
    if (list.RootElement.EnumerateArray().All(t => t.GetProperty("finished").ValueKind == JsonValueKind.String))
    {
        break;
    }

    await Task.Delay(1000);
}

using (var settle = new HttpClient { BaseAddress = facility.Services["logs"] })
{
    settle.DefaultRequestHeaders.Authorization = new("Bearer", peerToken);
    using var searched = await settle.GetAsync(new Uri($"v1/requests/{logged}/logs?q=batch&limit=1", UriKind.Relative));
    searched.EnsureSuccessStatusCode();
}

await Task.Delay(TimeSpan.FromSeconds(5));

// The pages each reader reads, and the peer's.
var pages = new (string Name, Func<HttpClient, HttpRequestMessage> Request)[]
{
    ("facility page `/`", _ => new HttpRequestMessage(HttpMethod.Get, "/")),
    ($"my requests `/requests` ({requests:N0} requests)", _ => new HttpRequestMessage(HttpMethod.Get, "/requests")),
    ($"a request's page, {lines:N0} log lines (first {PageLines})", _ => new HttpRequestMessage(HttpMethod.Get, $"/requests/delivery/{logged}")),
    ($"peer: the logs service's HTML page of the same request, first {PageLines} lines", _ =>
    {
        var message = new HttpRequestMessage(HttpMethod.Get, new Uri(facility.Services["logs"], $"v1/requests/{logged}/logs?limit={PageLines}"));
        message.Headers.Authorization = new("Bearer", peerToken);
        message.Headers.Accept.ParseAdd("text/html");
        return message;
    }),
};

// Each service's code is compiled as it runs (tiered JIT): every page is read 300 times first, as a facility that has
// been up a while has.
foreach (var (_, request) in pages)
{
    for (var i = 0; i < 300; i++)
    {
        using var warm = await clients[0].SendAsync(request(clients[0]), HttpCompletionOption.ResponseContentRead);
        warm.EnsureSuccessStatusCode();
    }
}

// The first log lines painted: Chromium loads the request page (signed in), 20 times, no other load; its first line
// carries an Element Timing mark. The peer: the logs service's own HTML page of the same lines, with the user's token.
using var playwright = await Playwright.CreateAsync();
await using var browser = await Shoppe.Portal.Benchmarks.Screenshots.LaunchChromiumAsync(playwright);
var context = await browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = portal.ToString().TrimEnd('/') });
var page = await context.NewPageAsync();
await Shoppe.Portal.Benchmarks.Screenshots.SignInAsync(page, User, Password);
var peerContext = await browser.NewContextAsync(new BrowserNewContextOptions { ExtraHTTPHeaders = new Dictionary<string, string> { ["Authorization"] = $"Bearer {peerToken}" } });
var peerPage = await peerContext.NewPageAsync();
Console.WriteLine();
Console.WriteLine("| page, 20 loads (medians) | first byte | last byte | first contentful paint | first log line painted |");
Console.WriteLine("|---|---|---|---|---|");
await PaintAsync("a request's page (portal)", page, new Uri(portal, $"requests/delivery/{logged}"), "td[elementtiming]");
await PaintAsync("peer: the logs service's HTML page", peerPage, new Uri(facility.Services["logs"], $"v1/requests/{logged}/logs?limit={PageLines}"), null);

// Then one reader alone: each page and each service call behind a request's page, the median of 20.
async Task<double> AloneAsync(HttpClient client, Func<HttpRequestMessage> request)
{
    var times = new List<double>();
    for (var i = 0; i < 21; i++)
    {
        var t = Stopwatch.GetTimestamp();
        using var response = await client.SendAsync(request(), HttpCompletionOption.ResponseContentRead);
        response.EnsureSuccessStatusCode();
        times.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
    }

    times.Sort();
    return times[times.Count / 2];
}

HttpRequestMessage Service(string service, string path, string? accept = null)
{
    var message = new HttpRequestMessage(HttpMethod.Get, new Uri(facility.Services[service], path));
    message.Headers.Authorization = new("Bearer", peerToken);
    if (accept is not null)
    {
        message.Headers.Accept.ParseAdd(accept);
    }

    return message;
}

using var alone = new HttpClient();
Console.WriteLine($"alone, median of 20: `/` {await AloneAsync(clients[0], () => new HttpRequestMessage(HttpMethod.Get, "/")):F1} ms, `/requests` {await AloneAsync(clients[0], () => new HttpRequestMessage(HttpMethod.Get, "/requests")):F1} ms, request page {await AloneAsync(clients[0], () => new HttpRequestMessage(HttpMethod.Get, $"/requests/delivery/{logged}")):F1} ms; behind them: delivery list of 51 {await AloneAsync(alone, () => Service("delivery", "v1/transforms?limit=51")):F1} ms, delivery status {await AloneAsync(alone, () => Service("delivery", $"v1/transforms/{logged}")):F1} ms, its files {await AloneAsync(alone, () => Service("delivery", $"v1/transforms/{logged}/files")):F1} ms, logs JSON of {PageLines} {await AloneAsync(alone, () => Service("logs", $"v1/requests/{logged}/logs?limit={PageLines}")):F1} ms, logs HTML of {PageLines} {await AloneAsync(alone, () => Service("logs", $"v1/requests/{logged}/logs?limit={PageLines}", "text/html")):F1} ms");

// Back to back (each reader asks again as soon as it has the whole page): what the facility can serve, and the wait
// when 50 readers never pause. Then as people read: a pause of 0-2 s (1 s on average) between a reader's pages.
foreach (var paced in new[] { false, true })
{
    Console.WriteLine();
    Console.WriteLine(paced ? $"{readers} readers, each pausing 0-2 s between pages, {pacedSeconds} s a page:" : $"{readers} readers back to back, {seconds} s a page:");
    Console.WriteLine("| page | pages read | pages/s | p50 | p99 | max | errors |");
    Console.WriteLine("|---|---|---|---|---|---|---|");
    foreach (var (name, request) in pages)
    {
        foreach (var client in clients.Take(5))
        {
            using var warm = await client.SendAsync(request(client));
        }

        var times = new System.Collections.Concurrent.ConcurrentBag<double>();
        var errors = 0;
        var until = Stopwatch.StartNew();
        var limit = paced ? pacedSeconds : seconds;
        await Task.WhenAll(clients.Select(async client =>
        {
            if (paced)
            {
                await Task.Delay(Pause());
            }

            while (until.Elapsed.TotalSeconds < limit)
            {
                var t = Stopwatch.GetTimestamp();
                using var response = await client.SendAsync(request(client), HttpCompletionOption.ResponseContentRead);
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    Interlocked.Increment(ref errors);
                }

                times.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
                if (paced)
                {
                    await Task.Delay(Pause());
                }
            }
        }));
        var sorted = times.Order().ToArray();
        Console.WriteLine($"| {name} | {sorted.Length:N0} | {sorted.Length / until.Elapsed.TotalSeconds:F0} | {Percentile(sorted, 0.50):F1} ms | {Percentile(sorted, 0.99):F1} ms | {sorted[^1]:F1} ms | {errors} |");
    }
}

foreach (var client in clients)
{
    client.Dispose();
}

Directory.Delete(run, recursive: true);
return 0;

// Loads a page 21 times (the first warms up) and reports its medians: bytes as Navigation Timing has them, the first
// contentful paint, and the first log line's paint (its Element Timing entry; the peer's lines are its first content).
static async Task PaintAsync(string name, IPage page, Uri url, string? marked)
{
    const string Timing = """
        () => new Promise(done => {
            const n = performance.getEntriesByType('navigation')[0];
            const found = { fcp: null, line: null };
            const finish = () => { if (found.fcp !== null && found.line !== null) done([n.responseStart, n.responseEnd, found.fcp, found.line]); };
            new PerformanceObserver(list => { for (const e of list.getEntries()) if (e.name === 'first-contentful-paint') { found.fcp = e.startTime; if (!document.querySelector('[elementtiming]')) found.line = e.startTime; finish(); } }).observe({ type: 'paint', buffered: true });
            new PerformanceObserver(list => { for (const e of list.getEntries()) { found.line = e.renderTime || e.loadTime; finish(); } }).observe({ type: 'element', buffered: true });
        })
        """;
    var figures = new List<double[]>();
    for (var i = 0; i < 21; i++)
    {
        await page.GotoAsync(url.ToString());
        if (marked is not null)
        {
            await page.Locator(marked).WaitForAsync();
        }

        var f = await page.EvaluateAsync<double[]>(Timing);
        if (i > 0)
        {
            figures.Add(f);
        }
    }

    double Median(int k) => figures.Select(f => f[k]).Order().ElementAt(figures.Count / 2);
    Console.WriteLine($"| {name} | {Median(0):F0} ms | {Median(1):F0} ms | {Median(2):F0} ms | {Median(3):F0} ms (max {figures.Max(f => f[3]):F0}) |");
}

static double Percentile(double[] sorted, double p) => sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];

static async Task<HttpClient> SignInAsync(Uri portal, string user, string password)
{
    var client = new HttpClient(new SocketsHttpHandler { CookieContainer = new CookieContainer(), AllowAutoRedirect = false, MaxConnectionsPerServer = 1 }) { BaseAddress = portal };
    var form = await client.GetStringAsync("/signin");
    var input = Regex.Match(form, "<input[^>]*name=\"__RequestVerificationToken\"[^>]*>").Value;
    var token = Regex.Match(input, "value=\"([^\"]+)\"").Groups[1].Value;
    using var signedIn = await client.PostAsync("/signin", new FormUrlEncodedContent(new Dictionary<string, string>
    {
        ["_handler"] = "signin",
        ["__RequestVerificationToken"] = token,
        ["Input.Name"] = user,
        ["Input.Password"] = password,
    }));
    if (signedIn.StatusCode != HttpStatusCode.Redirect)
    {
        throw new InvalidOperationException($"sign-in answered {(int)signedIn.StatusCode}");
    }

    return client;
}
