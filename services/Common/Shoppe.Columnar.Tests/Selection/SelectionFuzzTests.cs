using System.Text;
using Apache.Arrow;
using Apache.Arrow.Types;
using Shoppe.Columnar.Io;
using Shoppe.Columnar.Selection;

namespace Shoppe.Columnar.Tests.Selection;

/// <summary>
/// Fuzzing the parser, binder and evaluator: random token soup, mutations of valid selections and random valid
/// expression trees, run over the real sample file. The only outcomes allowed are a result or a
/// <see cref="SelectionException"/>; anything else (a crash, another exception type) fails with its seed and input.
/// </summary>
public sealed class SelectionFuzzTests
{
    private static readonly string[] Pieces =
    [
        "MET_pt", "Muon_pt", "Muon_eta", "Muon_phi", "Muon_mass", "Muon_charge", "Muon_tightId", "Jet_pt", "Jet_eta", "nMuon",
        "HLT_IsoMu24", "event", "run", "m", "a", "b", ".pt", ".charge", "in", "Muon", "Jet", ":", ",", "(", ")", "[", "]",
        "+", "-", "*", "/", "%", "**", "<", "<=", ">", ">=", "==", "!=", "&&", "||", "!", "and", "or", "not", "=",
        "abs", "sqrt", "cos", "cosh", "sinh", "exp", "log", "count", "sum", "any", "all", "max", "min", "mass", "pt", "deltaR", "atan2",
        "0", "1", "2.5", "40", "1e3", "-1", "1e400", ".5", "true", "false", " ", "\u0000", "é", "\"", "'",
    ];

    private static readonly string[] Valid =
    [
        "count(Jet_pt > 40) >= 2",
        "any(a, b in Muon: a.charge != b.charge && 60 < mass(a, b) < 120)",
        "nMuon >= 2 && all(abs(Muon_eta) < 2.4)",
        "sum(Jet_pt[abs(Jet_eta) < 1]) > 100 || MET_pt > 50",
        "max(Muon_pt) > 20 && Jet_pt[0] > 30",
        "count(m in Muon: m.pt > 10 && m.tightId) == 1",
    ];

    private static readonly Lazy<RecordBatch> Batch = new(() =>
    {
        using var file = ColumnarFile.OpenAsync(Samples.Dimuon, null, default).GetAwaiter().GetResult();
        var names = file.Schema.FieldsList.Select(f => f.Name).Where(n => n.StartsWith("Muon_", StringComparison.Ordinal) || n.StartsWith("Jet_", StringComparison.Ordinal) || n is "MET_pt" or "nMuon" or "HLT_IsoMu24" or "event" or "run").ToArray();
        return file.ReadBatches(names).Single();
    });

    private static void Run(string filter, int seed)
    {
        try
        {
            var query = ColumnarQuery.Compile(Batch.Value.Schema, ["MET_pt", "Muon_pt"], filter);
            query.Execute(Batch.Value)?.Dispose();
        }
        catch (SelectionException)
        {
        }
        catch (Exception ex)
        {
            Assert.Fail($"seed {seed}: {ex.GetType().Name} for input {System.Text.Json.JsonSerializer.Serialize(filter)}: {ex}");
        }
    }

    [Fact]
    public void RandomTokens_NeverCrash()
    {
        for (var seed = 0; seed < 20_000; seed++)
        {
            var random = new Random(seed);
            var text = new StringBuilder();
            for (var n = random.Next(1, 16); n > 0; n--)
            {
                text.Append(Pieces[random.Next(Pieces.Length)]).Append(random.Next(3) == 0 ? " " : "");
            }

            Run(text.ToString(), seed);
        }
    }

    [Fact]
    public void MutatedSelections_NeverCrash()
    {
        for (var seed = 0; seed < 20_000; seed++)
        {
            var random = new Random(seed);
            var text = new StringBuilder(Valid[random.Next(Valid.Length)]);
            for (var n = random.Next(1, 4); n > 0 && text.Length > 0; n--)
            {
                var at = random.Next(text.Length);
                switch (random.Next(3))
                {
                    case 0: text.Remove(at, Math.Min(random.Next(1, 4), text.Length - at)); break;
                    case 1: text.Insert(at, Pieces[random.Next(Pieces.Length)]); break;
                    default: text[at] = (char)random.Next(32, 127); break;
                }
            }

            Run(text.ToString(), seed);
        }
    }

    [Fact]
    public void RandomExpressionTrees_RunOrFailCleanly()
    {
        var compiled = 0;
        for (var seed = 0; seed < 5_000; seed++)
        {
            var random = new Random(seed);
            var filter = Tree(random, 4) + (random.Next(2) == 0 ? " > 0" : "");
            try
            {
                var query = ColumnarQuery.Compile(Batch.Value.Schema, ["MET_pt"], filter);
                compiled++;
                query.Execute(Batch.Value)?.Dispose();
            }
            catch (SelectionException)
            {
            }
            catch (Exception ex)
            {
                Assert.Fail($"seed {seed}: {ex.GetType().Name} for {filter}: {ex}");
            }
        }

        Assert.True(compiled > 100, $"only {compiled} random trees compiled: the generator no longer reaches the evaluator");
    }

    private static string Tree(Random random, int depth)
    {
        if (depth == 0 || random.Next(4) == 0)
        {
            return random.Next(5) switch
            {
                0 => "MET_pt",
                1 => "Muon_pt",
                2 => "Jet_pt",
                3 => random.Next(100).ToString(System.Globalization.CultureInfo.InvariantCulture),
                _ => "nMuon",
            };
        }

        return random.Next(8) switch
        {
            0 => $"({Tree(random, depth - 1)} {new[] { "+", "-", "*", "/" }[random.Next(4)]} {Tree(random, depth - 1)})",
            1 => $"({Tree(random, depth - 1)} {new[] { "<", ">", "==", "!=" }[random.Next(4)]} {Tree(random, depth - 1)})",
            2 => $"{new[] { "count", "sum", "max", "min", "any", "all" }[random.Next(6)]}({Tree(random, depth - 1)})",
            3 => $"{new[] { "abs", "sqrt", "log", "exp", "cosh" }[random.Next(5)]}({Tree(random, depth - 1)})",
            4 => $"{Tree(random, depth - 1)}[{Tree(random, depth - 1)}]",
            5 => $"({Tree(random, depth - 1)} && {Tree(random, depth - 1)})",
            6 => $"any(a, b in Muon: a.pt * b.pt > {random.Next(1000)} && mass(a, b) > {random.Next(100)})",
            _ => $"!({Tree(random, depth - 1)})",
        };
    }
}
