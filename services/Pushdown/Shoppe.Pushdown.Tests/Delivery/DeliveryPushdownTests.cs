extern alias delivery;

using System.Net.Http.Json;
using System.Text.Json;
using Shoppe.Pushdown.Client;

namespace Shoppe.Pushdown.Tests.Delivery;

/// <summary>
/// Delivery and pushdown both ways: a dataset on a pushdown node is transformed there (the same content as a local
/// transform), and deliveries written into a node's storage are scanned and joined there (the "virtual join" of
/// derived datasets that ServiceX-to-SkyHook aimed at).
/// </summary>
public sealed class DeliveryPushdownTests : IAsyncLifetime
{
    private readonly string _root = Directory.CreateTempSubdirectory("shoppe-delivery-pushdown-").FullName;
    private TestService<Program> _node = null!;
    private string Derived => Path.Combine(_root, "derived");

    public ValueTask InitializeAsync()
    {
        Directory.CreateDirectory(Derived);
        _node = new TestService<Program>(Path.Combine(_root, "node"), new Dictionary<string, string?>
        {
            ["Pushdown:StorageRoots:0"] = Samples.Folder,
            ["Pushdown:StorageRoots:1"] = Derived,
        }, keyFile: Path.Combine(_root, "signing.key"), port: 0);
        _ = _node.CreateClient(); // started, on its port
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await _node.DisposeAsync();
        Directory.Delete(_root, recursive: true);
    }

    private TestService<delivery::Program> Delivery(Dictionary<string, string?> settings)
    {
        settings["Delivery:Workers"] = "2";
        settings["Delivery:RetryDelay"] = "00:00:00.200";
        return new TestService<delivery::Program>(Path.Combine(_root, "delivery"), settings, keyFile: Path.Combine(_root, "signing.key"));
    }

    private static async Task<(string Id, JsonElement Status)> TransformAsync(HttpClient client, object request)
    {
        using var response = await client.PostAsJsonAsync("/v1/transforms", request, TestContext.Current.CancellationToken);
        var body = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.IsSuccessStatusCode, body);
        var id = JsonDocument.Parse(body).RootElement.GetProperty("requestId").GetString()!;
        for (var i = 0; i < 600; i++)
        {
            var status = await client.GetFromJsonAsync<JsonElement>($"/v1/transforms/{id}", TestContext.Current.CancellationToken);
            if (status.GetProperty("state").GetString() is "complete" or "partial" or "failed" or "cancelled")
            {
                return (id, status);
            }

            await Task.Delay(100, TestContext.Current.CancellationToken);
        }

        throw new TimeoutException($"transform {id} did not finish");
    }

    [Fact]
    public async Task DatasetOnANode_IsTransformedThere_WithTheSameContent()
    {
        var node = _node.CreateClient().BaseAddress!;
        await using var service = Delivery(new Dictionary<string, string?>
        {
            ["Delivery:PushdownUrl"] = node.ToString(),
            ["Delivery:PushdownToken"] = _node.Token("delivery"),
            ["Delivery:Datasets:on-node:0"] = "pushdown:/nano_dy.parquet",
            ["Delivery:Datasets:on-node:1"] = "pushdown:/nano_dimuon.parquet",
        });
        using var client = service.ClientFor("alice");
        var query = AdlQueries.Query5;
        var (id, status) = await TransformAsync(client, new { dataset = "on-node", columns = query.Columns, filter = query.Filter });
        Assert.True(status.GetProperty("state").GetString() == "complete", $"{status} {await client.GetStringAsync($"/v1/transforms/{id}/files", TestContext.Current.CancellationToken)}");
        Assert.Equal(80, status.GetProperty("eventsIn").GetInt64());
        var files = await client.GetFromJsonAsync<JsonElement>($"/v1/transforms/{id}/files", TestContext.Current.CancellationToken);
        var folder = status.GetProperty("destination").GetString()!;
        var outputs = files.EnumerateArray().Select(f => Path.Combine(folder, f.GetProperty("output").GetString()!)).ToList();
        DuckDb.AssertSame(query.Expected(Samples.DrellYan), PushdownServiceFactory.Actual(outputs[0]));
        DuckDb.AssertSame(query.Expected(Samples.Dimuon), PushdownServiceFactory.Actual(outputs[1]));

        // A selection that does not fit is refused at submission, by the node.
        using var refused = await client.PostAsJsonAsync("/v1/transforms", new { dataset = "on-node", columns = new[] { "Muon_ptt" } }, TestContext.Current.CancellationToken);
        Assert.Equal(400, (int)refused.StatusCode);
        Assert.Contains("unknown column 'Muon_ptt'", await refused.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);
    }

    [Fact]
    public async Task DeliveriesIntoTheNodesStorage_AreJoinedThere()
    {
        await using var service = Delivery(new Dictionary<string, string?>
        {
            ["Delivery:LocalRoots:0"] = Samples.Folder,
            ["Delivery:Destinations:0"] = Derived,
            ["Delivery:Datasets:samples:0"] = Samples.Dimuon,
            ["Delivery:Datasets:samples:1"] = Samples.DrellYan,
        });
        using var client = service.ClientFor("alice");
        string[] identity = ["run", "luminosityBlock", "event"];
        var (muonsId, muons) = await TransformAsync(client, new { dataset = "samples", columns = identity.Append("Muon_pt").Append("Muon_eta"), output = new { destination = Path.Combine(Derived, "muons") } });
        var (jetsId, jets) = await TransformAsync(client, new { dataset = "samples", columns = identity.Append("Jet_pt").Append("MET_pt"), output = new { destination = Path.Combine(Derived, "jets") } });
        Assert.Equal("complete", muons.GetProperty("state").GetString());
        Assert.Equal("complete", jets.GetProperty("state").GetString());

        // Each delivery's outputs are in <destination>/<its request id>, its files in input order.
        var scan = new ScanRequest(JsonSerializer.SerializeToElement(new[] { $"/jets/{jetsId}" }), ["MET_pt", "Muon_pt", "Jet_pt"], "count(Muon_pt > 10) >= 1 && count(Jet_pt > 30) >= 1", [JsonSerializer.SerializeToElement(new[] { $"/muons/{muonsId}" })]);
        using var nodeClient = _node.ClientFor("alice");
        using var reader = await new PushdownClient(nodeClient).ScanAsync(scan, TestContext.Current.CancellationToken);
        var (path, _, _) = await PushdownServiceFactory.ReadAllAsync(reader, Path.Combine(_root, "joined.parquet"));
        var expected = DuckDb.Query($"SELECT MET_pt::DOUBLE, Muon_pt::DOUBLE[], Jet_pt::DOUBLE[] FROM read_parquet(['{Samples.Dimuon}', '{Samples.DrellYan}'], filename = true, file_row_number = true) WHERE len(list_filter(Muon_pt, x -> x > 10)) >= 1 AND len(list_filter(Jet_pt, x -> x > 30)) >= 1 ORDER BY filename, file_row_number");
        DuckDb.AssertSame(expected, PushdownServiceFactory.Actual(path));
    }
}
