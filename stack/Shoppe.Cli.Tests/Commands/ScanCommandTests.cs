extern alias pushdown;

namespace Shoppe.Cli.Tests.Commands;

/// <summary><c>shoppe scan</c> against the real pushdown service: the output file, the summary, refusals.</summary>
public sealed class ScanCommandTests : IAsyncLifetime
{
    private readonly CliRun _cli = new();
    private TestService<pushdown::Program> _service = null!;

    public ValueTask InitializeAsync()
    {
        _service = new TestService<pushdown::Program>(Path.Combine(_cli.Folder, "pushdown"), new Dictionary<string, string?>
        {
            ["Pushdown:StorageRoots:0"] = Samples.Folder,
            ["Pushdown:Datasets:samples:0"] = "/",
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

    [Theory]
    [InlineData("parquet")]
    [InlineData("arrow")]
    public async Task Scan_WritesThePassingEvents_AndSummarizes(string format)
    {
        var target = Path.Combine(_cli.Folder, $"met.{format}");

        var (exit, output) = await RunAsync("scan", "--dataset", "samples", "--columns", "event,MET_pt", "Jet_pt[Jet_pt > 40]", "--filter", "count(Jet_pt > 40) >= 2", "--out", target, "--format", format);

        Assert.True(exit == 0, output);
        Assert.Matches("Scan [0-9a-f]{32}\\. Its logs: shoppe logs [0-9a-f]{32}", output);
        Assert.Contains("the node read 80 events of 2 file(s)", output, StringComparison.Ordinal);
        var expected = DuckDb.Query($"SELECT event::DOUBLE, MET_pt::DOUBLE, list_filter(Jet_pt, x -> x > 40)::DOUBLE[] FROM read_parquet(['{Samples.Dimuon}', '{Samples.DrellYan}'], filename = true, file_row_number = true) WHERE len(list_filter(Jet_pt, x -> x > 40)) >= 2 ORDER BY filename, file_row_number");
        Assert.Contains($"finished: {expected.Count} events written", output, StringComparison.Ordinal);
        if (format == "parquet")
        {
            DuckDb.AssertSame(expected, DuckDb.Query($"SELECT event::DOUBLE, MET_pt::DOUBLE, Jet_pt::DOUBLE[] FROM read_parquet('{target}')"));
        }
        else
        {
            using var stream = File.OpenRead(target);
            using var reader = new Apache.Arrow.Ipc.ArrowFileReader(stream);
            var count = await reader.RecordBatchCountAsync();
            long rows = 0;
            for (var i = 0; i < count; i++)
            {
                using var batch = await reader.ReadRecordBatchAsync(i, TestContext.Current.CancellationToken);
                rows += batch.Length;
            }

            Assert.Equal(expected.Count, rows);
        }
    }

    [Fact]
    public async Task Scan_BadFilter_PointsAtTheCharacterAndExitsTwo()
    {
        var (exit, output) = await RunAsync("scan", "--dataset", "samples", "--columns", "MET_pt", "--filter", "nMuon >= 2 && Muon_ptt > 20", "--out", Path.Combine(_cli.Folder, "x.parquet"));

        Assert.Equal(2, exit);
        Assert.Contains("Bad selection (400)", output, StringComparison.Ordinal);
        Assert.Contains("  nMuon >= 2 && Muon_ptt > 20\n                ^", output.Replace("\r", "", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_cli.Folder, "x.parquet")));
    }

    [Fact]
    public async Task Scan_OutsideTheStorage_IsRefused()
    {
        var (exit, output) = await RunAsync("scan", "--dataset", "../../etc/passwd", "--columns", "MET_pt", "--out", Path.Combine(_cli.Folder, "y.parquet"));

        Assert.Equal(2, exit);
        Assert.Contains("Outside the storage (403)", output, StringComparison.Ordinal);
    }
}
