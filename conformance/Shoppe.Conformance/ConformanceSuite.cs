using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Shoppe.Conformance;

/// <summary>What the facility must report: the release's versions (from its manifest), when certifying one.</summary>
/// <param name="StackVersion">The stack version every service must report.</param>
/// <param name="Commit">The source commit the services must report, when known.</param>
/// <param name="Components">Each component's version, by name.</param>
public sealed record ExpectedRelease(string StackVersion, string? Commit, IReadOnlyDictionary<string, string> Components);

/// <summary>
/// The conformance suite: every service's health and <c>/version</c>, the contract of each public API, and an
/// end-to-end request followed by its id through the logs service. A failed check never stops the others.
/// </summary>
public sealed partial class ConformanceSuite(FacilityEnvironment facility, ExpectedRelease? expected, IProgress<string> progress) : IDisposable
{
    private static readonly string[] EndToEndColumns = ["event", "MET_pt", "Muon_pt[Muon_pt > 20]"];
    private static readonly string[] EventColumn = ["event"];
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(30);
    private readonly HttpClient _http = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(1) }) { Timeout = TimeSpan.FromMinutes(5) };
    private readonly List<CheckResult> _results = [];
    private readonly string _runId = Guid.CreateVersion7().ToString("N")[..12];

    /// <summary>The results so far.</summary>
    public IReadOnlyList<CheckResult> Results => _results;

    /// <summary>Runs every check.</summary>
    public async Task<IReadOnlyList<CheckResult>> RunAsync(CancellationToken cancellationToken)
    {
        foreach (var service in FacilityComponents.Services)
        {
            await CheckAsync("health", service.Name, () => HealthAsync(service.Name, cancellationToken));
            await CheckAsync("version", service.Name, () => VersionAsync(service.Name, cancellationToken));
            await CheckAsync("security", $"{service.Name}: unauthenticated and unknown requests are problems", () => UnauthenticatedAsync(service.Name, cancellationToken));
        }

        await CheckAsync("contract.cache", "range and multi-range reads match the whole file", () => CacheRangesAsync(cancellationToken));
        await CheckAsync("contract.cache", "paths outside the origin are refused", () => CacheTraversalAsync(cancellationToken));
        await CheckAsync("contract.cache", "stats report hits, misses and bytes", () => CacheStatsAsync(cancellationToken));
        await CheckAsync("contract.transfer", "PUT, HEAD with adler32, GET, COPY pull with markers, DELETE", () => TransferRoundTripAsync(cancellationToken));
        await CheckAsync("contract.transfer", "scopes: a token without storage.create cannot write", () => TransferScopeAsync(cancellationToken));
        await CheckAsync("contract.transfer", "paths with '..' are refused", () => TransferTraversalAsync(cancellationToken));
        await CheckAsync("contract.delivery", "a bad selection is a 400 problem naming the character", () => DeliveryBadSelectionAsync(cancellationToken));
        await CheckAsync("contract.pushdown", "a scan of the dataset is an Arrow stream of every event, under its request id", () => PushdownScanAsync(cancellationToken));
        await CheckAsync("contract.pushdown", "a bad filter is a 400 problem naming the character; '..' is refused", () => PushdownRefusalsAsync(cancellationToken));
        await CheckAsync("contract.logs", "another user's request is not found", () => LogsOwnerOnlyAsync(cancellationToken));
        await CheckAsync("contract.workflow", "a cyclic document is a 400 problem naming the job, and nothing is created", () => WorkflowCycleAsync(cancellationToken));
        await CheckAsync("contract.portal", "the page shows every service healthy", () => PortalAsync(cancellationToken));
        await CheckAsync("contract.portal", "sign-in, tutorials and the release page answer; a user's pages and streams need sign-in", () => PortalPagesAsync(cancellationToken));
        await CheckAsync("contract.portal", "the release page names the release; its badge is an SVG image or a 404 problem", () => PortalReleaseAsync(cancellationToken));
        await CheckAsync("end-to-end", "a delivery request followed by its id through the logs service", () => EndToEndAsync(cancellationToken));
        await CheckAsync("end-to-end", "a workflow run by a pilot, its jobs' output followed by its id through the logs service", () => WorkflowEndToEndAsync(cancellationToken));
        return _results;
    }

    /// <summary>Runs one check, recording how it ended; exceptions are failures (or not-applicable when they say so).</summary>
    internal async Task CheckAsync(string suite, string name, Func<Task<string?>> check)
    {
        var clock = Stopwatch.StartNew();
        CheckResult result;
        try
        {
            var note = await check();
            result = new CheckResult(suite, name, Outcome.Passed, note, clock.Elapsed.TotalSeconds);
        }
        catch (NotApplicableException ex)
        {
            result = new CheckResult(suite, name, Outcome.NotApplicable, ex.Message, clock.Elapsed.TotalSeconds);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || ex is TaskCanceledException { InnerException: TimeoutException })
        {
            result = new CheckResult(suite, name, Outcome.Failed, ex is CheckFailedException ? ex.Message : $"{ex.GetType().Name}: {ex.Message}", clock.Elapsed.TotalSeconds);
        }

        _results.Add(result);
        progress.Report($"{Symbol(result.Outcome)} {suite}: {name}{(result.Message is null ? "" : " — " + result.Message)}");
    }

    internal static string Symbol(Outcome outcome) => outcome switch
    {
        Outcome.Passed => "passed ",
        Outcome.Failed => "FAILED ",
        _ => "n/a    ",
    };

    private Uri Url(string service, string path) => new(facility.Services[service], path.TrimStart('/'));

    private HttpRequestMessage Request(HttpMethod method, string service, string path, string? token, string? requestId = null)
    {
        var request = new HttpRequestMessage(method, Url(service, path));
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        request.Headers.Add("X-Shoppe-Request-Id", requestId ?? $"conformance-{_runId}");
        return request;
    }

    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken, HttpCompletionOption completion = HttpCompletionOption.ResponseContentRead)
    {
        using (request)
        {
            return await _http.SendAsync(request, completion, cancellationToken).WaitAsync(CallTimeout, cancellationToken);
        }
    }

    private async Task<string?> HealthAsync(string service, CancellationToken cancellationToken)
    {
        using var health = await SendAsync(Request(HttpMethod.Get, service, "/health", null), cancellationToken);
        Require(health.StatusCode == HttpStatusCode.OK, $"/health answered {(int)health.StatusCode}: {await Body(health, cancellationToken)}");
        using var alive = await SendAsync(Request(HttpMethod.Get, service, "/alive", null), cancellationToken);
        Require(alive.StatusCode == HttpStatusCode.OK, $"/alive answered {(int)alive.StatusCode}");
        return null;
    }

    private async Task<string?> VersionAsync(string service, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(Request(HttpMethod.Get, service, "/version", null), cancellationToken);
        Require(response.StatusCode == HttpStatusCode.OK, $"/version answered {(int)response.StatusCode}");
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken));
        var info = json.RootElement;
        var name = info.GetProperty("service").GetString();
        var version = info.GetProperty("version").GetString();
        var stack = info.GetProperty("stackVersion").GetString();
        var commit = info.TryGetProperty("commit", out var c) ? c.GetString() : null;
        Require(name == service, $"it calls itself '{name}'");
        if (expected is null)
        {
            return $"{version} (stack {stack}); no manifest to compare with";
        }

        Require(stack == expected.StackVersion, $"stack version {stack}, the release is {expected.StackVersion}");
        if (expected.Components.TryGetValue(service, out var want))
        {
            Require(version == want, $"version {version}, the manifest says {want}");
        }

        if (expected.Commit is not null)
        {
            Require(commit is { Length: >= 7 } && commit.All(char.IsAsciiHexDigit) && expected.Commit.StartsWith(commit, StringComparison.OrdinalIgnoreCase),
                $"commit {(string.IsNullOrEmpty(commit) ? "(none)" : commit)}, the release was built from {expected.Commit}");
        }

        return $"{version}, stack {stack}, commit {commit?[..Math.Min(12, commit.Length)]}";
    }

    private async Task<string?> UnauthenticatedAsync(string service, CancellationToken cancellationToken)
    {
        // The cache's and the transfer storage's namespaces are every path: without a token nothing there is answered.
        var storage = service is "cache" or "transfer";
        using var response = await SendAsync(Request(HttpMethod.Get, service, "/v1/conformance-unknown", null), cancellationToken);
        var want = storage ? HttpStatusCode.Unauthorized : HttpStatusCode.NotFound;
        Require(response.StatusCode == want, $"an unknown route without a token answered {(int)response.StatusCode}, not {(int)want}");
        Require(response.Content.Headers.ContentType?.MediaType == "application/problem+json",
            $"the answer is {response.Content.Headers.ContentType?.MediaType ?? "untyped"}, not application/problem+json");
        if (storage)
        {
            using var forged = await SendAsync(Request(HttpMethod.Get, service, "/nanoaod/x", "eyJhbGciOiJIUzI1NiJ9.e30.forged"), cancellationToken);
            Require(forged.StatusCode == HttpStatusCode.Unauthorized, $"a forged token answered {(int)forged.StatusCode}, not 401");
        }

        return null;
    }

    private async Task<(string Path, byte[] Whole)> CacheSampleAsync(CancellationToken cancellationToken)
    {
        const string path = "/nanoaod/";
        var file = facility.OriginFolder is { } origin
            ? path + Path.GetFileName(Directory.GetFiles(Path.Combine(origin, "nanoaod"), "*.parquet").Order(StringComparer.Ordinal).First())
            : facility.CacheProbePath ?? throw new NotApplicableException("the deployment named no file under its cache (--cache-probe-path)");
        using var whole = await SendAsync(Request(HttpMethod.Get, "cache", file, facility.Token("conformance")), cancellationToken);
        Require(whole.StatusCode == HttpStatusCode.OK, $"GET {file} answered {(int)whole.StatusCode}: {await Body(whole, cancellationToken)}");
        return (file, await whole.Content.ReadAsByteArrayAsync(cancellationToken));
    }

    private async Task<string?> CacheRangesAsync(CancellationToken cancellationToken)
    {
        var (file, whole) = await CacheSampleAsync(cancellationToken);
        if (facility.OriginFolder is { } origin)
        {
            Require(whole.AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(origin, file.TrimStart('/')))), "the cache's bytes differ from the origin's");
        }

        Require(whole.Length >= 200, $"{file} is too small to test ranges ({whole.Length} bytes)");
        var request = Request(HttpMethod.Get, "cache", file, facility.Token("conformance"));
        request.Headers.Range = new RangeHeaderValue(100, 199);
        using (var single = await SendAsync(request, cancellationToken))
        {
            Require(single.StatusCode == HttpStatusCode.PartialContent, $"a single range answered {(int)single.StatusCode}");
            Require(single.Content.Headers.ContentRange?.ToString() == $"bytes 100-199/{whole.Length}", $"Content-Range {single.Content.Headers.ContentRange}");
            Require((await single.Content.ReadAsByteArrayAsync(cancellationToken)).AsSpan().SequenceEqual(whole.AsSpan(100, 100)), "the range's bytes differ");
        }

        request = Request(HttpMethod.Get, "cache", file, facility.Token("conformance"));
        request.Headers.Range = new RangeHeaderValue();
        request.Headers.Range.Ranges.Add(new RangeItemHeaderValue(0, 9));
        request.Headers.Range.Ranges.Add(new RangeItemHeaderValue(whole.Length - 10, whole.Length - 1));
        using (var multi = await SendAsync(request, cancellationToken))
        {
            Require(multi.StatusCode == HttpStatusCode.PartialContent, $"a multi-range request answered {(int)multi.StatusCode}");
            Require(multi.Content.Headers.ContentType?.MediaType == "multipart/byteranges", $"a multi-range answer is {multi.Content.Headers.ContentType}");
            var body = await multi.Content.ReadAsByteArrayAsync(cancellationToken);
            Require(IndexOf(body, whole.AsSpan(0, 10)) >= 0 && IndexOf(body, whole.AsSpan(whole.Length - 10)) >= 0, "the parts do not hold the asked bytes");
        }

        return $"{file}: {whole.Length} bytes";
    }

    private async Task<string?> CacheTraversalAsync(CancellationToken cancellationToken)
    {
        foreach (var path in new[] { "/%2e%2e/%2e%2e/etc/passwd", "/nanoaod/..%2f..%2fetc/passwd", "/nanoaod%2f..%2f..%2fetc%2fpasswd", "//etc/passwd" })
        {
            using var response = await SendAsync(Request(HttpMethod.Get, "cache", path, facility.Token("conformance")), cancellationToken);
            Require(response.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.NotFound or HttpStatusCode.Forbidden,
                $"GET {path} answered {(int)response.StatusCode}");
            Require(!(await response.Content.ReadAsStringAsync(cancellationToken)).Contains("root:", StringComparison.Ordinal), $"GET {path} served /etc/passwd");
        }

        return null;
    }

    private async Task<string?> CacheStatsAsync(CancellationToken cancellationToken)
    {
        using var response = await SendAsync(Request(HttpMethod.Get, "cache", "/v1/stats", facility.Token("conformance")), cancellationToken);
        Require(response.StatusCode == HttpStatusCode.OK, $"/v1/stats answered {(int)response.StatusCode}");
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken));
        foreach (var field in new[] { "hits", "misses", "bytesFromCache", "bytesFromOrigin", "evictions" })
        {
            Require(json.RootElement.TryGetProperty(field, out _), $"/v1/stats has no '{field}'");
        }

        return null;
    }

    private static string StorageScope(string path) => $"storage.read:{path} storage.create:{path} storage.modify:{path}";

    private async Task<string?> TransferRoundTripAsync(CancellationToken cancellationToken)
    {
        var folder = $"/conformance/{_runId}";
        var token = facility.Token("conformance", StorageScope("/conformance"));
        var data = RandomNumberGenerator.GetBytes(1 << 20);
        var put = Request(HttpMethod.Put, "transfer", folder + "/a.bin", token);
        put.Content = new ByteArrayContent(data);
        using (var created = await SendAsync(put, cancellationToken))
        {
            Require(created.StatusCode == HttpStatusCode.Created, $"PUT answered {(int)created.StatusCode}: {await Body(created, cancellationToken)}");
        }

        var head = Request(HttpMethod.Head, "transfer", folder + "/a.bin", token);
        head.Headers.Add("Want-Digest", "adler32");
        using (var info = await SendAsync(head, cancellationToken))
        {
            var digest = info.Headers.TryGetValues("Digest", out var values) ? values.Single() : null;
            Require(digest == "adler32=" + Adler32(data), $"HEAD's Digest is {digest ?? "(none)"}, not adler32={Adler32(data)}");
        }

        var copy = Request(new HttpMethod("COPY"), "transfer", folder + "/b.bin", token);
        copy.Headers.Add("Source", Url("transfer", folder + "/a.bin").ToString());
        copy.Headers.Add("TransferHeaderAuthorization", "Bearer " + token);
        copy.Headers.Add("RequireChecksumVerification", "true");
        using (var markers = await SendAsync(copy, cancellationToken))
        {
            var text = await markers.Content.ReadAsStringAsync(cancellationToken);
            Require(markers.StatusCode == HttpStatusCode.Accepted, $"COPY answered {(int)markers.StatusCode}: {text}");
            Require(text.Contains("Perf Marker", StringComparison.Ordinal) && text.Contains("Stripe Bytes Transferred:", StringComparison.Ordinal),
                "COPY sent no performance markers");
            Require(text.TrimEnd().EndsWith("success: Created", StringComparison.Ordinal), $"COPY ended with '{text.TrimEnd().Split('\n')[^1]}'");
        }

        using (var copied = await SendAsync(Request(HttpMethod.Get, "transfer", folder + "/b.bin", token), cancellationToken))
        {
            Require(copied.StatusCode == HttpStatusCode.OK, $"GET of the copy answered {(int)copied.StatusCode}");
            Require((await copied.Content.ReadAsByteArrayAsync(cancellationToken)).AsSpan().SequenceEqual(data), "the copy's bytes differ");
        }

        foreach (var name in new[] { "/a.bin", "/b.bin" })
        {
            using var deleted = await SendAsync(Request(HttpMethod.Delete, "transfer", folder + name, token), cancellationToken);
            Require(deleted.StatusCode is HttpStatusCode.NoContent or HttpStatusCode.OK, $"DELETE answered {(int)deleted.StatusCode}");
        }

        await SendAsync(Request(HttpMethod.Delete, "transfer", folder, token), cancellationToken);
        return null;
    }

    private async Task<string?> TransferScopeAsync(CancellationToken cancellationToken)
    {
        if (!facility.MintsTokens)
        {
            throw new NotApplicableException("the deployment's one token cannot be narrowed to a read-only scope");
        }

        var readOnly = facility.Token("conformance", "storage.read:/conformance");
        var put = Request(HttpMethod.Put, "transfer", $"/conformance/{_runId}-denied.bin", readOnly);
        put.Content = new ByteArrayContent([1, 2, 3]);
        using var response = await SendAsync(put, cancellationToken);

        Require(response.StatusCode == HttpStatusCode.Forbidden, $"PUT with only storage.read answered {(int)response.StatusCode}");
        return null;
    }

    private async Task<string?> TransferTraversalAsync(CancellationToken cancellationToken)
    {
        var token = facility.Token("conformance", StorageScope("/conformance"));
        foreach (var path in new[] { "/conformance/../../etc/passwd", "/conformance/%2e%2e/%2e%2e/etc/passwd" })
        {
            using var response = await SendAsync(Request(HttpMethod.Get, "transfer", path, token), cancellationToken);
            Require(response.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.NotFound or HttpStatusCode.Forbidden, $"GET {path} answered {(int)response.StatusCode}");
        }

        return null;
    }

    private async Task<string?> DeliveryBadSelectionAsync(CancellationToken cancellationToken)
    {
        var request = Request(HttpMethod.Post, "delivery", "/v1/transforms", facility.Token("conformance"));
        request.Content = JsonContent.Create(new { dataset = facility.Dataset, columns = EventColumn, filter = "nMuon >= " });
        using var response = await SendAsync(request, cancellationToken);
        var body = await Body(response, cancellationToken);
        Require(response.StatusCode == HttpStatusCode.BadRequest, $"answered {(int)response.StatusCode}: {body}");
        Require(response.Content.Headers.ContentType?.MediaType == "application/problem+json", "the answer is not problem details");
        Require(body.Contains("character", StringComparison.OrdinalIgnoreCase), $"the problem does not point at a character: {body}");
        return null;
    }

    private async Task<string?> LogsOwnerOnlyAsync(CancellationToken cancellationToken)
    {
        using var response = await SendAsync(Request(HttpMethod.Get, "logs", $"/v1/requests/conformance-nobody-{_runId}/logs", facility.Token("conformance")), cancellationToken);
        Require(response.StatusCode == HttpStatusCode.NotFound, $"answered {(int)response.StatusCode}");
        Require(response.Content.Headers.ContentType?.MediaType == "application/problem+json", "the answer is not problem details");
        using var anonymous = await SendAsync(Request(HttpMethod.Get, "logs", $"/v1/requests/conformance-nobody-{_runId}/logs", null), cancellationToken);
        Require(anonymous.StatusCode == HttpStatusCode.Unauthorized, $"without a token it answered {(int)anonymous.StatusCode}");
        return null;
    }

    private async Task<string?> EndToEndAsync(CancellationToken cancellationToken)
    {
        var user = "conformance";
        var token = facility.Token(user);
        var requestId = $"conformance-{_runId}-e2e";
        var submit = Request(HttpMethod.Post, "delivery", "/v1/transforms", token, requestId);
        submit.Content = JsonContent.Create(new
        {
            dataset = facility.Dataset,
            columns = EndToEndColumns,
            filter = "nMuon >= 1",
        });
        string id;
        using (var created = await SendAsync(submit, cancellationToken))
        {
            var body = await Body(created, cancellationToken);
            Require(created.StatusCode == HttpStatusCode.Created, $"submit answered {(int)created.StatusCode}: {body}");
            id = JsonDocument.Parse(body).RootElement.GetProperty("requestId").GetString()!;
            Require(id == requestId, $"the transform's id is {id}, not the request id it was sent with ({requestId})");
        }

        progress.Report($"        delivery request {id} submitted");
        JsonElement status;
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(3);
        do
        {
            await Task.Delay(250, cancellationToken);
            using var poll = await SendAsync(Request(HttpMethod.Get, "delivery", $"/v1/transforms/{id}", token), cancellationToken);
            status = JsonDocument.Parse(await poll.Content.ReadAsStringAsync(cancellationToken)).RootElement.Clone();
        }
        while (status.GetProperty("state").GetString() is "submitted" or "running" && DateTime.UtcNow < deadline);

        Require(status.GetProperty("state").GetString() == "complete", $"the transform ended {status.GetProperty("state").GetString()}: {status}");
        var eventsIn = status.GetProperty("eventsIn").GetInt64();
        if (facility.DatasetEvents is { } events)
        {
            Require(eventsIn == events, $"it read {eventsIn} events; the dataset has {events}");
        }

        using (var output = await SendAsync(Request(HttpMethod.Get, "delivery", $"/v1/transforms/{id}/files/0", token), cancellationToken))
        {
            var bytes = await output.Content.ReadAsByteArrayAsync(cancellationToken);
            Require(output.StatusCode == HttpStatusCode.OK, $"downloading output 0 answered {(int)output.StatusCode}");
            Require(bytes.Length > 8 && bytes.AsSpan(0, 4).SequenceEqual("PAR1"u8) && bytes.AsSpan(bytes.Length - 4).SequenceEqual("PAR1"u8), "output 0 is not a Parquet file");
        }

        // The request's records, from the delivery service and the cache it read through, back to the user by id.
        HashSet<string> services = [];
        deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < deadline && !(services.Contains("delivery") && services.Contains("cache")))
        {
            using var page = await SendAsync(Request(HttpMethod.Get, "logs", $"/v1/requests/{id}/logs", token), cancellationToken);
            if (page.StatusCode == HttpStatusCode.OK)
            {
                using var json = JsonDocument.Parse(await page.Content.ReadAsStringAsync(cancellationToken));
                services = json.RootElement.GetProperty("records").EnumerateArray().Select(r => r.GetProperty("service").GetString()!).ToHashSet();
            }

            await Task.Delay(500, cancellationToken);
        }

        Require(services.Contains("delivery") && services.Contains("cache"),
            $"the logs service holds records of request {id} from [{string.Join(", ", services.Order())}], not from both delivery and cache");
        return string.Create(CultureInfo.InvariantCulture, $"request {id}: {eventsIn} events in, {status.GetProperty("eventsOut").GetInt64()} out; logs from {string.Join(", ", services.Order())}");
    }

    /// <summary>Adler-32 as storage systems print it: 8 lower-case hex digits.</summary>
    internal static string Adler32(ReadOnlySpan<byte> data)
    {
        const uint Mod = 65521;
        uint a = 1, b = 0;
        foreach (var x in data)
        {
            a = (a + x) % Mod;
            b = (b + a) % Mod;
        }

        return ((b << 16) | a).ToString("x8", CultureInfo.InvariantCulture);
    }

    private static int IndexOf(byte[] haystack, ReadOnlySpan<byte> needle) => haystack.AsSpan().IndexOf(needle);

    private static async Task<string> Body(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        return text.Length > 400 ? text[..400] + "…" : text;
    }

    internal static void Require(bool condition, string failure)
    {
        if (!condition)
        {
            throw new CheckFailedException(failure);
        }
    }

    /// <inheritdoc/>
    public void Dispose() => _http.Dispose();
}

/// <summary>A check that did not hold; its message is the result's.</summary>
public sealed class CheckFailedException : Exception
{
    public CheckFailedException()
    {
    }

    public CheckFailedException(string message)
        : base(message)
    {
    }

    public CheckFailedException(string message, Exception inner)
        : base(message, inner)
    {
    }
}

/// <summary>A check that cannot run here; reported "not applicable", never "passed".</summary>
public sealed class NotApplicableException : Exception
{
    public NotApplicableException()
    {
    }

    public NotApplicableException(string message)
        : base(message)
    {
    }

    public NotApplicableException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
