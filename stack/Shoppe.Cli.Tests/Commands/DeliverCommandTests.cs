extern alias delivery;

namespace Shoppe.Cli.Tests.Commands;

/// <summary><c>shoppe deliver</c> against the real delivery service: progress, downloads, the request id, refusals.</summary>
public sealed class DeliverCommandTests : IAsyncLifetime
{
    private readonly CliRun _cli = new();
    private TestService<delivery::Program> _service = null!;

    public ValueTask InitializeAsync()
    {
        _service = new TestService<delivery::Program>(Path.Combine(_cli.Folder, "delivery"), new Dictionary<string, string?>
        {
            ["Delivery:Workers"] = "2",
            ["Delivery:LocalRoots:0"] = Samples.Folder,
            ["Delivery:Datasets:samples:0"] = Samples.DrellYan,
            ["Delivery:Datasets:samples:1"] = Samples.Dimuon,
        });
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await _service.DisposeAsync();
        _cli.Dispose();
    }

    private Task<(int Exit, string Output)> RunAsync(params string[] args) =>
        _cli.ShoppeAsync(_service.Server.CreateHandler(), [.. args, "--url", "http://localhost", "--token", _service.Token("alice")]);

    [Fact]
    public async Task Deliver_NamedDataset_ShowsProgressAndDownloadsEveryOutput()
    {
        var target = Path.Combine(_cli.Folder, "mine");

        var (exit, output) = await RunAsync("deliver", "--dataset", "samples", "--columns", "event,MET_pt", "Muon_pt[Muon_pt > 20]", "--filter", "nMuon >= 2", "--out", target);

        Assert.True(exit == 0, output);
        Assert.Matches("Request [0-9a-f]{32}: 2 file\\(s\\)\\. Its logs: shoppe logs [0-9a-f]{32}", output);
        Assert.Contains("files 2/2", output, StringComparison.Ordinal);
        Assert.Contains("complete: 2 of 2 files, 80 events read", output, StringComparison.Ordinal);
        var files = Directory.GetFiles(target).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(["00000-nano_dy.parquet", "00001-nano_dimuon.parquet"], files.Select(Path.GetFileName));
        var rows = DuckDb.Query($"SELECT event::DOUBLE, MET_pt::DOUBLE, len(Muon_pt)::DOUBLE FROM read_parquet('{files[1]}')");
        var expected = DuckDb.Query($"SELECT event::DOUBLE, MET_pt::DOUBLE, len(list_filter(Muon_pt, x -> x > 20))::DOUBLE FROM read_parquet('{Samples.Dimuon}', file_row_number = true) WHERE nMuon >= 2 ORDER BY file_row_number");
        DuckDb.AssertSame(expected, rows);
    }

    [Fact]
    public async Task Deliver_BadFilter_PointsAtTheCharacterAndExitsTwo()
    {
        var (exit, output) = await RunAsync("deliver", "--dataset", "samples", "--columns", "MET_pt", "--filter", "nMuon >= 2 && Muon_ptt > 20");

        Assert.Equal(2, exit);
        Assert.Contains("Bad selection (400)", output, StringComparison.Ordinal);
        Assert.Contains("unknown column 'Muon_ptt'; did you mean 'Muon_pt'?", output, StringComparison.Ordinal);
        Assert.Contains("  nMuon >= 2 && Muon_ptt > 20\n                ^", output.Replace("\r", "", StringComparison.Ordinal), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Deliver_AdlQueries_EveryOutputSameAsDuckDb()
    {
        // Every query runs, so that one failing does not hide the others; the test fails naming each that failed.
        var failures = new List<string>();
        foreach (var (query, number) in AdlQueries.All.Select((q, i) => (q, i + 1)))
        {
            var target = Path.Combine(_cli.Folder, $"adl-{number}");
            // The columns as one comma-separated argument: the CLI splits them (not inside argmin(a, b, c in ...)).
            string[] args = ["deliver", "--dataset", "samples", "--columns", string.Join(", ", query.Columns), "--out", target];

            var (exit, output) = await RunAsync(query.Filter is null ? args : [.. args, "--filter", query.Filter]);

            if (exit != 0)
            {
                failures.Add($"{query.Name}: exit {exit}: {output}");
                continue;
            }

            var files = Directory.GetFiles(target).Order(StringComparer.Ordinal).ToArray();
            try
            {
                Assert.Equal(2, files.Length);
                foreach (var (delivered, input) in files.Zip([Samples.DrellYan, Samples.Dimuon]))
                {
                    var rows = DuckDb.Query($"SELECT * EXCLUDE (file_row_number) FROM read_parquet('{delivered}', file_row_number = true) ORDER BY file_row_number");
                    DuckDb.AssertSame(query.Expected(input), rows);
                }
            }
            catch (Exception ex) when (ex is Xunit.Sdk.IAssertionException)
            {
                failures.Add($"{query.Name}: {ex.Message}");
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void Split_AdlQueryColumnsJoinedByCommas_EachColumnWhole()
    {
        foreach (var query in AdlQueries.All)
        {
            Assert.Equal(query.Columns, Cli.Commands.DeliverCommand.Split([string.Join(", ", query.Columns)]));
        }
    }

    [Fact]
    public void Split_KeepsCommasInsideCalls() =>
        Assert.Equal(["a", "max(a, b)", "Jet_pt[Jet_pt > 1, 2]", "c"], Cli.Commands.DeliverCommand.Split(["a, max(a, b)", "Jet_pt[Jet_pt > 1, 2],c"]));
}
