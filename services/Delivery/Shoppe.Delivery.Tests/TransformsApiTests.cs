using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Shoppe.Delivery.Transforms;

namespace Shoppe.Delivery.Tests;

/// <summary>The delivery service end to end on the real NanoAOD samples: submit, follow, download, compare with DuckDB.</summary>
public sealed partial class TransformsApiTests : IAsyncLifetime
{
    private readonly string _dataRoot = Directory.CreateTempSubdirectory("shoppe-delivery-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync() => await TestFolders.DeleteAsync(_dataRoot);

    private DeliveryServiceFactory Service(IDictionary<string, string?>? settings = null) => new(_dataRoot, settings);

    private static object Request(object dataset, string[] columns, string? filter = null, string? format = null, string? destination = null) =>
        new { dataset, columns, filter, output = new { format, destination } };

    private static async Task<string> SubmitAsync(HttpClient client, object request)
    {
        using var response = await client.PostAsJsonAsync("/v1/transforms", request, Ct);
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync(Ct));
        var created = (await response.Content.ReadFromJsonAsync<TransformCreated>(Ct))!;
        Assert.Equal($"/v1/transforms/{created.RequestId}", response.Headers.Location?.OriginalString);
        Assert.Equal(created.RequestId, response.Headers.GetValues("X-Shoppe-Request-Id").Single());
        return created.RequestId;
    }

    private static async Task<JsonElement> ProblemAsync(HttpClient client, object request, HttpStatusCode expected)
    {
        using var response = await client.PostAsJsonAsync("/v1/transforms", request, Ct);
        var body = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.StatusCode == expected, $"{(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return JsonDocument.Parse(body).RootElement;
    }

    [Fact]
    public async Task Transform_SampleDataset_DeliversTheSelectionDuckDbComputes()
    {
        await using var service = Service();
        using var client = service.ClientFor("alice");
        string[] columns = ["run", "luminosityBlock", "event", "Muon_pt[Muon_pt > 20]", "Muon_charge", "MET_pt"];
        var id = await SubmitAsync(client, Request(new[] { Samples.DrellYan, Samples.Dimuon }, columns, "nMuon >= 2"));

        var status = await DeliveryServiceFactory.WaitAsync(client, id);
        Assert.Equal(TransformStates.Complete, status.State);
        Assert.Equal((2, 2, 0, 0), (status.FilesTotal, status.FilesDone, status.FilesFailed, status.FilesRemaining));
        Assert.Equal(80, status.EventsIn);
        Assert.Equal("alice", status.Owner);
        Assert.NotNull(status.ElapsedSeconds);

        var files = (await client.GetFromJsonAsync<TransformFileStatus[]>($"/v1/transforms/{id}/files", Ct))!;
        Assert.Equal(2, files.Length);
        var delivered = 0L;
        foreach (var (file, input) in files.Zip([Samples.DrellYan, Samples.Dimuon]))
        {
            Assert.Equal(FileStates.Done, file.State);
            Assert.Equal(input, file.Input);
            var bytes = await client.GetByteArrayAsync(file.Url, Ct);
            Assert.Equal(file.BytesOut, bytes.Length);
            var downloaded = Path.Combine(_dataRoot, $"download-{file.Index}.parquet");
            await File.WriteAllBytesAsync(downloaded, bytes, Ct);

            // The output, read back by DuckDB, against DuckDB's own computation over the input.
            var expected = DuckDb.Query($"""
                SELECT run::DOUBLE, luminosityBlock::DOUBLE, event::DOUBLE, list_filter(Muon_pt, x -> x > 20)::DOUBLE[], Muon_charge::DOUBLE[], MET_pt::DOUBLE
                FROM read_parquet('{input}', file_row_number = true) WHERE nMuon >= 2 ORDER BY file_row_number
                """);
            var actual = DuckDb.Query($"SELECT run::DOUBLE, luminosityBlock::DOUBLE, event::DOUBLE, Muon_pt::DOUBLE[], Muon_charge::DOUBLE[], MET_pt::DOUBLE FROM read_parquet('{downloaded}')");
            DuckDb.AssertSame(expected, actual);
            Assert.Equal(file.EventsOut, actual.Count);
            delivered += actual.Count;
        }

        Assert.Equal(status.EventsOut, delivered);
        Assert.True(delivered > 0);
    }

    [Fact]
    public async Task Transform_SameQueryAgain_ReusesTheOutputUntilTheInputChanges()
    {
        var input = Path.Combine(Samples.Folder, "reuse-" + Guid.NewGuid().ToString("N")[..8] + ".parquet");
        File.Copy(Samples.Dimuon, input);
        try
        {
            await using var service = Service();
            using var alice = service.ClientFor("alice");
            using var bob = service.ClientFor("bob");
            var request = Request(new[] { input }, ["event", "Muon_pt[Muon_pt > 20]"], "nMuon >= 2");

            var first = await DeliveryServiceFactory.WaitAsync(alice, await SubmitAsync(alice, request));
            var again = await DeliveryServiceFactory.WaitAsync(bob, await SubmitAsync(bob, request));

            Assert.Equal(TransformStates.Complete, again.State);
            Assert.Equal(first.EventsOut, again.EventsOut);
            Assert.True(first.BytesIn > 0);
            Assert.Equal(0, again.BytesIn); // nothing read: the earlier output was linked
            Assert.Equal(await File.ReadAllBytesAsync(Directory.GetFiles(first.Destination)[0], Ct), await File.ReadAllBytesAsync(Directory.GetFiles(again.Destination)[0], Ct));

            File.SetLastWriteTimeUtc(input, DateTime.UtcNow.AddMinutes(1)); // a new version of the file
            var changed = await DeliveryServiceFactory.WaitAsync(alice, await SubmitAsync(alice, request));
            Assert.True(changed.BytesIn > 0);
        }
        finally
        {
            File.Delete(input);
        }
    }

    [Fact]
    public async Task Transform_ArrowOutputToAnAllowedDestination_WritesArrowFilesThere()
    {
        var destination = Path.Combine(_dataRoot, "user-area");
        await using var service = Service(new Dictionary<string, string?> { ["Delivery:Destinations:0"] = destination });
        using var client = service.ClientFor("alice");
        var id = await SubmitAsync(client, Request(new[] { Samples.Dimuon }, ["MET_pt", "nJet = count(Jet_pt > 0)"], format: "arrow", destination: Path.Combine(destination, "dimuon")));

        var status = await DeliveryServiceFactory.WaitAsync(client, id);
        Assert.Equal(TransformStates.Complete, status.State);
        var written = Directory.GetFiles(Path.Combine(destination, "dimuon", id));
        var file = Assert.Single(written);
        Assert.EndsWith("00000-nano_dimuon.arrow", file, StringComparison.Ordinal);
        await using var stream = File.OpenRead(file);
        using var reader = new Apache.Arrow.Ipc.ArrowFileReader(stream);
        var batch = await reader.ReadNextRecordBatchAsync(Ct);
        Assert.Equal(40, batch.Length);
        Assert.Equal(["MET_pt", "nJet"], batch.Schema.FieldsList.Select(f => f.Name));
    }

    [Fact]
    public async Task Transform_OverHttpRanges_ReadsOnlyWhatItNeeds()
    {
        await using var origin = new TestOrigin();
        origin.Write("nanoaod/nano_dy.parquet", await File.ReadAllBytesAsync(Samples.DrellYan, Ct));
        await origin.StartAsync();
        await using var service = Service(LoopbackAllowed);
        using var client = service.ClientFor("alice");

        var id = await SubmitAsync(client, Request(new[] { origin.Url + "/nanoaod/nano_dy.parquet" }, ["MET_pt"], "MET_pt > 20"));
        var status = await DeliveryServiceFactory.WaitAsync(client, id);

        Assert.Equal(TransformStates.Complete, status.State);
        Assert.Contains(origin.Requests, r => r.Range is not null);
        // One column of 1499: the file's footer and MET_pt's chunk, far less than the 1.2 MB file.
        Assert.InRange(status.BytesIn, 1, new FileInfo(Samples.DrellYan).Length);
        var expected = DuckDb.Query($"SELECT count(*)::DOUBLE FROM read_parquet('{Samples.DrellYan}') WHERE MET_pt > 20");
        Assert.Equal((double)expected[0][0], status.EventsOut);
    }

    [Fact]
    public async Task Transform_OriginFailsOnce_TheFileIsRetriedAndDone()
    {
        await using var origin = new TestOrigin();
        origin.Write("nano_dy.parquet", await File.ReadAllBytesAsync(Samples.DrellYan, Ct));
        await origin.StartAsync();
        await using var service = Service(LoopbackAllowed);
        using var client = service.ClientFor("alice");
        // The schema check at submission reads the file; then the origin fails the worker's first try.
        var id = await SubmitAsync(client, Request(new[] { origin.Url + "/nano_dy.parquet" }, ["MET_pt"]));
        origin.FailNextRequests = 1;

        var status = await DeliveryServiceFactory.WaitAsync(client, id);

        Assert.Equal(TransformStates.Complete, status.State);
        var file = Assert.Single((await client.GetFromJsonAsync<TransformFileStatus[]>($"/v1/transforms/{id}/files", Ct))!);
        Assert.Equal(2, file.Attempts);
    }

    [Fact]
    public async Task Transform_ABadFileAmongGoodOnes_FailsThatFileOnlyAndSaysWhy()
    {
        var broken = Path.Combine(Samples.Folder, "broken-" + Guid.NewGuid().ToString("N")[..8] + ".parquet");
        await File.WriteAllTextAsync(broken, "this is not parquet", Ct);
        try
        {
            await using var service = Service();
            using var client = service.ClientFor("alice");
            var id = await SubmitAsync(client, Request(new[] { Samples.DrellYan, broken, Samples.Dimuon }, ["MET_pt"]));

            var status = await DeliveryServiceFactory.WaitAsync(client, id);

            Assert.Equal(TransformStates.Partial, status.State);
            Assert.Equal((2, 1), (status.FilesDone, status.FilesFailed));
            var error = Assert.Single(status.Errors);
            Assert.Contains("not a readable Parquet file", error, StringComparison.Ordinal);
            // The list (summarised together) says what the status says.
            var listed = Assert.Single((await client.GetFromJsonAsync<TransformStatus[]>("/v1/transforms", Ct))!);
            Assert.Equal((status.FilesDone, status.FilesFailed, status.EventsOut, status.BytesOut), (listed.FilesDone, listed.FilesFailed, listed.EventsOut, listed.BytesOut));
            Assert.Equal(status.Errors, listed.Errors);
            var files = (await client.GetFromJsonAsync<TransformFileStatus[]>($"/v1/transforms/{id}/files", Ct))!;
            Assert.Equal(1, files[1].Attempts); // not retried: it cannot pass
            Assert.Null(files[1].Url);
            Assert.Equal(2, Directory.GetFiles(status.Destination).Length); // no partial output of the failed file
        }
        finally
        {
            File.Delete(broken);
        }
    }

    [Fact]
    public async Task Submit_BadRequests_AreClearProblemsAndLeaveNothingBehind()
    {
        await using var service = Service(new Dictionary<string, string?> { ["Delivery:Datasets:dy:0"] = Samples.DrellYan, ["Delivery:AllowedRemotes:0"] = "127.0.0.1" });
        using var client = service.ClientFor("alice");
        var notParquet = Path.Combine(Samples.Folder, "LICENSE-coffea-samples");

        var unknownColumn = await ProblemAsync(client, Request("dy", ["MET_pt"], "nMuon >= 2 && Muon_ptt > 20"), HttpStatusCode.BadRequest);
        Assert.Equal("Bad selection", unknownColumn.GetProperty("title").GetString());
        Assert.Equal("Muon_ptt", unknownColumn.GetProperty("column").GetString());
        Assert.Equal(15, unknownColumn.GetProperty("position").GetInt32());
        Assert.Equal("filter", unknownColumn.GetProperty("where").GetString());
        Assert.Contains("did you mean 'Muon_pt'", unknownColumn.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.True(unknownColumn.TryGetProperty("requestId", out _));

        var typeError = await ProblemAsync(client, Request("dy", ["MET_pt", "Jet_pt + Muon_pt"]), HttpStatusCode.BadRequest);
        Assert.Equal("column 2", typeError.GetProperty("where").GetString());
        Assert.Contains("do not line up", typeError.GetProperty("detail").GetString(), StringComparison.Ordinal);

        var syntax = await ProblemAsync(client, Request("dy", ["MET_pt"], "MET_pt >"), HttpStatusCode.BadRequest);
        Assert.Equal(9, syntax.GetProperty("position").GetInt32());

        Assert.Equal("Unknown dataset", (await ProblemAsync(client, Request("nope", ["MET_pt"]), HttpStatusCode.BadRequest)).GetProperty("title").GetString());
        Assert.Equal("Bad file location", (await ProblemAsync(client, Request(new[] { "root://eos/x.root" }, ["MET_pt"]), HttpStatusCode.BadRequest)).GetProperty("title").GetString());
        Assert.Equal("Bad file location", (await ProblemAsync(client, Request(new[] { Samples.Folder + "/../../etc/passwd" }, ["MET_pt"]), HttpStatusCode.BadRequest)).GetProperty("title").GetString());
        Assert.Equal("Bad file location", (await ProblemAsync(client, Request(new[] { "/etc/passwd" }, ["MET_pt"]), HttpStatusCode.BadRequest)).GetProperty("title").GetString());
        Assert.Equal("Unreadable input", (await ProblemAsync(client, Request(new[] { notParquet }, ["MET_pt"]), HttpStatusCode.UnprocessableEntity)).GetProperty("title").GetString());
        Assert.Equal("Unreadable input", (await ProblemAsync(client, Request(new[] { "http://127.0.0.1:9/missing.parquet" }, ["MET_pt"]), HttpStatusCode.UnprocessableEntity)).GetProperty("title").GetString());
        Assert.Equal("No columns", (await ProblemAsync(client, Request("dy", []), HttpStatusCode.BadRequest)).GetProperty("title").GetString());
        Assert.Equal("Unknown output format", (await ProblemAsync(client, Request("dy", ["MET_pt"], format: "root"), HttpStatusCode.BadRequest)).GetProperty("title").GetString());
        Assert.Equal("Destination not allowed", (await ProblemAsync(client, Request("dy", ["MET_pt"], destination: "/tmp/elsewhere"), HttpStatusCode.Forbidden)).GetProperty("title").GetString());

        var escape = Path.Combine(Samples.Folder, "escape-" + Guid.NewGuid().ToString("N")[..8] + ".parquet");
        File.CreateSymbolicLink(escape, "/etc/hostname");
        try
        {
            Assert.Equal("Bad file location", (await ProblemAsync(client, Request(new[] { escape }, ["MET_pt"]), HttpStatusCode.BadRequest)).GetProperty("title").GetString());
        }
        finally
        {
            File.Delete(escape);
        }

        using (var dots = new HttpRequestMessage(HttpMethod.Post, "/v1/transforms") { Content = JsonContent.Create(Request("dy", ["MET_pt"])) })
        {
            dots.Headers.Add("X-Shoppe-Request-Id", "..");
            using var refused = await client.SendAsync(dots, Ct);
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode); // the id names the output folder
        }

        using (var malformed = await client.PostAsync("/v1/transforms", new StringContent("{not json", System.Text.Encoding.UTF8, "application/json"), Ct))
        {
            Assert.Equal(HttpStatusCode.BadRequest, malformed.StatusCode);
        }

        using (var huge = await client.PostAsync("/v1/transforms", new ByteArrayContent(new byte[17 * 1024 * 1024]), Ct))
        {
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, huge.StatusCode);
        }

        // Nothing was created: no transforms, no output folders.
        Assert.Empty((await client.GetFromJsonAsync<TransformStatus[]>("/v1/transforms", Ct))!);
        Assert.False(Directory.Exists(Path.Combine(_dataRoot, "outputs")) && Directory.EnumerateFileSystemEntries(Path.Combine(_dataRoot, "outputs")).Any());
    }

    [Fact]
    public async Task Transforms_AreTheirOwnersOnly()
    {
        await using var service = Service();
        using var alice = service.ClientFor("alice");
        using var bob = service.ClientFor("bob");
        using var operatorClient = service.ClientFor("olga", "operator");
        using var anonymous = service.CreateClient();

        using (var response = await anonymous.PostAsJsonAsync("/v1/transforms", Request(new[] { Samples.DrellYan }, ["MET_pt"]), Ct))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        var id = await SubmitAsync(alice, Request(new[] { Samples.DrellYan }, ["MET_pt"]));
        await DeliveryServiceFactory.WaitAsync(alice, id);

        Assert.Equal(HttpStatusCode.Forbidden, (await bob.GetAsync($"/v1/transforms/{id}", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await bob.GetAsync($"/v1/transforms/{id}/files/0", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await bob.DeleteAsync($"/v1/transforms/{id}", Ct)).StatusCode);
        Assert.Empty((await bob.GetFromJsonAsync<TransformStatus[]>("/v1/transforms", Ct))!);
        Assert.Equal(HttpStatusCode.OK, (await operatorClient.GetAsync($"/v1/transforms/{id}", Ct)).StatusCode);
        Assert.Single((await operatorClient.GetFromJsonAsync<TransformStatus[]>("/v1/transforms", Ct))!);
        Assert.Equal(HttpStatusCode.NotFound, (await alice.GetAsync("/v1/transforms/0123456789abcdef", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await alice.GetAsync($"/v1/transforms/{id}/files/7", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await alice.DeleteAsync($"/v1/transforms/{id}", Ct)).StatusCode); // finished
    }

    [Fact]
    public async Task Cancel_StopsARunningTransform()
    {
        await using var service = Service(new Dictionary<string, string?> { ["Delivery:Workers"] = "1" });
        using var client = service.ClientFor("alice");
        var id = await SubmitAsync(client, Request(Enumerable.Repeat(Samples.Dimuon, 400).ToArray(), ["Muon_pt", "Jet_pt"]));

        using var response = await client.DeleteAsync($"/v1/transforms/{id}", Ct);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var status = await DeliveryServiceFactory.WaitAsync(client, id);
        Assert.Equal(TransformStates.Cancelled, status.State);
        Assert.True(status.FilesDone < 400, $"{status.FilesDone} files done");
        Assert.Equal(0, status.FilesRemaining);
    }
}
