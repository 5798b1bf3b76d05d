using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Shoppe.Pushdown.Client;

namespace Shoppe.Pushdown.Tests.Scans;

/// <summary>Scans over plain HTTP (<c>POST /v1/scans</c>, an Arrow IPC stream): results against DuckDB, and every refusal before the first byte.</summary>
public sealed class ScansApiTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("shoppe-pushdown-").FullName;
    private readonly PushdownServiceFactory _service;

    public ScansApiTests() => _service = new PushdownServiceFactory(_root);

    public void Dispose()
    {
        _service.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    [Theory]
    [MemberData(nameof(AdlQueries.Names), MemberType = typeof(AdlQueries))]
    public async Task AdlQuery_OverHttp_EqualsDuckDbRowForRow(string name)
    {
        var query = AdlQueries.All.Single(q => q.Name == name);
        using var reader = await _service.Http("alice").ScanAsync(ScanRequest.Of("nanoaod-samples", query.Columns, query.Filter), TestContext.Current.CancellationToken);
        var (path, scanId, _) = await PushdownServiceFactory.ReadAllAsync(reader, Path.Combine(_root, "out.parquet"));
        DuckDb.AssertSame(PushdownServiceFactory.Expected(query), PushdownServiceFactory.Actual(path));

        var status = await _service.Http("alice").StatusAsync(scanId!, TestContext.Current.CancellationToken);
        Assert.Equal("finished", status.State);
        Assert.Equal(80, status.EventsScanned);
        Assert.Equal(2, status.Files);
        Assert.True(status.BytesRead > 0);
    }

    [Fact]
    public async Task Status_IsTheOwnersOnly_AndCarriesTheRequestId()
    {
        using var client = _service.ClientFor("alice");
        client.DefaultRequestHeaders.Add("X-Shoppe-Request-Id", "scan-by-alice-1");
        using var reader = await new PushdownClient(client).ScanAsync(ScanRequest.Of("nanoaod-samples", ["MET_pt"], "MET_pt > 20"), TestContext.Current.CancellationToken);
        Assert.Equal("scan-by-alice-1", reader.RequestId);
        while (await reader.ReadNextAsync(TestContext.Current.CancellationToken) is { } batch)
        {
            batch.Dispose();
        }

        using var bob = _service.ClientFor("bob");
        using var response = await bob.GetAsync(new Uri("/v1/scans/scan-by-alice-1", UriKind.Relative), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        var status = await _service.Http("alice").StatusAsync("scan-by-alice-1", TestContext.Current.CancellationToken);
        Assert.Equal(DuckDb.Query($"SELECT count(*)::DOUBLE FROM read_parquet(['{Samples.Dimuon}', '{Samples.DrellYan}']) WHERE MET_pt > 20")[0][0], (double)status.EventsPassed);
    }

    [Fact]
    public async Task List_IsTheCallersScansNewestFirst_AnOperatorsEveryones()
    {
        foreach (var (user, id) in new[] { ("alice", "list-alice-1"), ("bob", "list-bob-1"), ("alice", "list-alice-2") })
        {
            using var client = _service.ClientFor(user);
            client.DefaultRequestHeaders.Add("X-Shoppe-Request-Id", id);
            using var reader = await new PushdownClient(client).ScanAsync(ScanRequest.Of("nanoaod-samples", ["MET_pt"]), TestContext.Current.CancellationToken);
            while (await reader.ReadNextAsync(TestContext.Current.CancellationToken) is { } batch)
            {
                batch.Dispose();
            }

            await Task.Delay(20, TestContext.Current.CancellationToken); // distinct start times
        }

        async Task<string[]> ListAsync(HttpClient client, string query = "")
        {
            var list = await client.GetFromJsonAsync($"/v1/scans{query}", PushdownJsonContext.Default.IReadOnlyListScanStatus, TestContext.Current.CancellationToken);
            return list!.Select(s => s.Id).ToArray();
        }

        using var alice = _service.ClientFor("alice");
        Assert.Equal(["list-alice-2", "list-alice-1"], await ListAsync(alice));
        Assert.Equal(["list-alice-2"], await ListAsync(alice, "?limit=1"));
        using var olive = _service.ClientFor("olive", "operator");
        Assert.Equal(["list-alice-2", "list-bob-1", "list-alice-1"], await ListAsync(olive));
        using var bad = await alice.GetAsync(new Uri("/v1/scans?limit=0", UriKind.Relative), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Equal("application/problem+json", bad.Content.Headers.ContentType?.MediaType);
    }

    [Theory]
    [InlineData("""{"dataset":"nanoaod-samples","columns":["MET_pt"],"filter":"MET_pt > > 20"}""", 400, "filter", null)]
    [InlineData("""{"dataset":"nanoaod-samples","columns":["Nope_pt"]}""", 400, "unknown column 'Nope_pt'", null)]
    [InlineData("""{"dataset":"nanoaod-samples","columns":[]}""", 400, "at least one column", null)]
    [InlineData("""{"dataset":"no-such","columns":["MET_pt"]}""", 404, "nanoaod-samples", null)]
    [InlineData("""{"dataset":["../../../etc/passwd"],"columns":["MET_pt"]}""", 403, "not a plain path", null)]
    [InlineData("""{"dataset":["/etc/passwd"],"columns":["MET_pt"]}""", 404, "not under the node's storage", null)]
    [InlineData("""{"dataset":["nano_dy.parquet"],"columns":["MET_pt"],"join":[["nano_dimuon.parquet"]]}""", 409, "is in both", null)]
    [InlineData("""{"dataset":5,"columns":["MET_pt"]}""", 400, "dataset", null)]
    [InlineData("""not json""", 400, "not a scan request", null)]
    public async Task BadScans_AreProblemsBeforeAnyByte(string body, int status, string says, string? unused)
    {
        _ = unused;
        using var client = _service.ClientFor("alice");
        using var content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
        using var response = await client.PostAsync(new Uri("/v1/scans", UriKind.Relative), content, TestContext.Current.CancellationToken);
        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken);
        Assert.Contains(says, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task MalformedFilter_NamesWhereItWentWrong()
    {
        var ex = await Assert.ThrowsAsync<PushdownException>(() => _service.Http("alice").ScanAsync(ScanRequest.Of("nanoaod-samples", ["MET_pt"], "MET_pt > > 20"), TestContext.Current.CancellationToken));
        Assert.Equal(400, ex.Status);
        Assert.Equal("Bad selection", ex.Title);
        Assert.StartsWith("filter:", ex.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WithoutToken_Unauthorized()
    {
        using var client = _service.CreateClient();
        using var content = new StringContent("""{"dataset":"nanoaod-samples","columns":["MET_pt"]}""", System.Text.Encoding.UTF8, "application/json");
        using var response = await client.PostAsync(new Uri("/v1/scans", UriKind.Relative), content, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        using var datasets = await client.GetAsync(new Uri("/v1/datasets", UriKind.Relative), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Unauthorized, datasets.StatusCode);
    }

    [Fact]
    public async Task Datasets_ListTheirFilesFromTheFooters()
    {
        using var client = _service.ClientFor("alice");
        var datasets = await client.GetFromJsonAsync<List<DatasetInfo>>(new Uri("/v1/datasets", UriKind.Relative), TestContext.Current.CancellationToken);
        var samples = Assert.Single(datasets!);
        Assert.Equal("nanoaod-samples", samples.Name);
        Assert.Equal(["/nano_dimuon.parquet", "/nano_dy.parquet"], samples.Files.Select(f => f.Path));
        Assert.Equal(80, samples.Events);
    }
}
