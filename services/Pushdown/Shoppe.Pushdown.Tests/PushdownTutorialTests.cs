using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using Shoppe.Columnar;
using Shoppe.Columnar.Io;

namespace Shoppe.Pushdown.Tests;

/// <summary>tutorials/pushdown-scan.md, its shell blocks run as written against a real pushdown node (on a loopback port) and the real <c>shoppe</c>.</summary>
public sealed partial class PushdownTutorialTests : IAsyncLifetime
{
    private readonly string _root = Directory.CreateTempSubdirectory("shoppe-tutorial-").FullName;
    private TestService<Program> _node = null!;

    public ValueTask InitializeAsync()
    {
        var storage = Directory.CreateDirectory(Path.Combine(_root, "storage")).FullName;
        foreach (var sample in new[] { Samples.Dimuon, Samples.DrellYan })
        {
            using var input = ColumnarFile.OpenAsync(sample, null, TestContext.Current.CancellationToken).GetAwaiter().GetResult();
            string[] identity = ["run", "luminosityBlock", "event"];
            foreach (var (folder, columns) in new[] { ("jets", identity.Append("MET_pt").Append("Jet_pt")), ("muons", identity.Append("Muon_pt")) })
            {
                Directory.CreateDirectory(Path.Combine(storage, "derived", folder));
                FileTransform.Run(input, [.. columns], null, Path.Combine(storage, "derived", folder, Path.GetFileName(sample)), OutputFormat.Parquet, TestContext.Current.CancellationToken);
            }
        }

        _node = new TestService<Program>(Path.Combine(_root, "node"), new Dictionary<string, string?>
        {
            ["Pushdown:StorageRoots:0"] = storage,
            ["Pushdown:StorageRoots:1"] = Samples.Folder,
            ["Pushdown:Datasets:samples:0"] = "/nano_dimuon.parquet",
            ["Pushdown:Datasets:samples:1"] = "/nano_dy.parquet",
        }, keyFile: Path.Combine(_root, "signing.key"), port: 0);
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await _node.DisposeAsync();
        Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public async Task Tutorial_ShellBlocks_RunAsWritten()
    {
        var url = _node.CreateClient().BaseAddress!;
        _ = _node.Token("someone"); // the facility's signing key exists once a token was made: `shoppe token issue` reads it
        var markdown = await File.ReadAllTextAsync(Path.Combine(Repository.Root, "tutorials", "pushdown-scan.md"), TestContext.Current.CancellationToken);
        var shoppe = Path.Combine(AppContext.BaseDirectory, "shoppe.dll");
        var bash = new StringBuilder($"set -euo pipefail\nshoppe() {{ dotnet '{shoppe}' \"$@\"; }}\n");
        foreach (Match block in FencePattern().Matches(markdown))
        {
            if (block.Groups[1].Value == "bash")
            {
                bash.AppendLine(block.Groups[2].Value);
            }
        }

        var work = Directory.CreateDirectory(Path.Combine(_root, "work")).FullName;
        var start = new ProcessStartInfo("bash") { WorkingDirectory = work, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(bash.ToString());
        start.Environment["SHOPPE_PUSHDOWN_URL"] = url.ToString();
        start.Environment["SHOPPE_KEY_FILE"] = _node.KeyFile;
        start.Environment["HOME"] = work;
        start.Environment.Remove("SHOPPE_TOKEN");
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromMinutes(3), TestContext.Current.CancellationToken);
        var output = await stdout + await stderr;
        Assert.True(process.ExitCode == 0, output);
        Assert.Contains("refused, as it should be", output, StringComparison.Ordinal);
        Assert.Contains("unknown column 'Jet_ptt'", output, StringComparison.Ordinal);

        var files = $"['{Samples.Dimuon}', '{Samples.DrellYan}'], filename = true, file_row_number = true";
        DuckDb.AssertSame(
            DuckDb.Query($"SELECT MET_pt::DOUBLE, list_filter(Jet_pt, x -> x > 40)::DOUBLE[] FROM read_parquet({files}) WHERE len(list_filter(Jet_pt, x -> x > 40)) >= 2 ORDER BY filename, file_row_number"),
            DuckDb.Query($"SELECT MET_pt::DOUBLE, Jet_pt::DOUBLE[] FROM read_parquet('{Path.Combine(work, "dijet.parquet")}')"));
        DuckDb.AssertSame(
            DuckDb.Query($"SELECT MET_pt::DOUBLE, coalesce(Muon_pt[1], 'NaN'::FLOAT)::DOUBLE FROM read_parquet({files}) WHERE len(list_filter(Muon_pt, x -> x > 20)) >= 1 AND len(list_filter(Jet_pt, x -> x > 30)) >= 2 ORDER BY filename, file_row_number"),
            DuckDb.Query($"SELECT MET_pt::DOUBLE, leading_muon::DOUBLE FROM read_parquet('{Path.Combine(work, "joined.parquet")}')"));
    }

    [GeneratedRegex(@"```(\w+)\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex FencePattern();
}
