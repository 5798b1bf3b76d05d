using System.Diagnostics;
using Apache.Arrow;
using DuckDB.NET.Data;
using Shoppe.Columnar.Io;
using Shoppe.Columnar.Selection;
using Shoppe.Columnar.Tests.Selection.Differential;
using Column = Shoppe.Columnar.Tests.Selection.Differential.Column;
using Field = Shoppe.Columnar.Tests.Selection.Differential.Field;
using Kinematic = Shoppe.Columnar.Tests.Selection.Differential.Kinematic;

namespace Shoppe.Columnar.Tests.Selection;

/// <summary>
/// Differential fuzzing of the selection language (issue 16): random, well-typed selections from a seed, each printed
/// twice, in the selection language and as DuckDB SQL over the same Parquet file, and compared row for row. DuckDB
/// is the independent evaluation; the SQL spells out the language's corners (IEEE comparisons with NaN, NaN for
/// the max of nothing and for a missing element, double arithmetic on every column) rather than leaning on DuckDB's
/// defaults. A failure names the seed, the selection and the SQL (macros included, runnable in the DuckDB shell);
/// <c>new SelectionGenerator(new Random(seed)).Query()</c> makes the selection again.
/// </summary>
public sealed class DifferentialFuzzTests(ITestOutputHelper output)
{
    /// <summary>Selections per sample file (some 2 to 4 seconds each).</summary>
    private const int Queries = 500;

    /// <summary>Selections per sample file in the new syntax (larger SQL: nested lambdas over combinations).</summary>
    private const int NewSyntaxQueries = 200;

    [Theory]
    [MemberData(nameof(Samples.Files), MemberType = typeof(Samples))]
    public void RandomSelections_AgreeWithDuckDbRowForRow(string file)
    {
        Run(file, Queries, seed => new SelectionGenerator(new Random(seed)).Query());
    }

    /// <summary>
    /// <c>X[k]</c> of booleans where there is no k-th object is false (the first engine gave NaN, which is not 0: the
    /// filter <c>Muon_looseId[1]</c> kept the events with fewer than two muons, while <c>Muon_looseId[1] == true</c>
    /// was false). DuckDB (and the SQL printer) take a missing boolean as false; then random selections with boolean
    /// elements.
    /// </summary>
    [Theory]
    [MemberData(nameof(Samples.Files), MemberType = typeof(Samples))]
    public void MissingBooleanElements_AreFalse(string file)
    {
        var batch = Load(file);
        using var duckDb = Events(file, batch);
        var query = new RandomQuery(new Element(new Column("Muon_looseId", Kind.Bool, "Muon"), 1), [new Column("nMuon", Kind.Number, null), new Element(new Column("Muon_tightId", Kind.Bool, "Muon"), 0)]);
        var outcome = Compare(duckDb, batch, query);
        Assert.True(outcome is Outcome.Same, $"{outcome}\n{query.Describe(file)}");
        Run(file, Queries, seed => new SelectionGenerator(new Random(seed)) { BooleanElements = true }.Query());
    }

    /// <summary>
    /// The additions of the new syntax (docs/selection-language.md): unions, where-conditions, three and four
    /// variables, nesting, argmin/argmax and their fields, max/min of more than two, mt, object identity. Every form
    /// (<see cref="NewSyntaxProbes"/>) must compile; <see cref="NewSyntax_SqlRunsInDuckDbAndMeansTheSpec"/> keeps the
    /// SQL side honest.
    /// </summary>
    [Theory]
    [MemberData(nameof(Samples.Files), MemberType = typeof(Samples))]
    public void NewSyntax_RandomSelections_AgreeWithDuckDbRowForRow(string file)
    {
        var batch = Load(file);
        var missing = NewSyntaxProbes.Where(probe => !Compiles(batch, probe)).ToArray();
        Assert.True(missing.Length == 0, $"the engine does not take these forms: {string.Join(" ; ", missing)}");
        Run(file, NewSyntaxQueries, seed => new SelectionGenerator(new Random(seed)) { NewSyntax = true }.Query());
    }

    /// <summary>One filter per form of the new syntax the random selections use.</summary>
    internal static readonly string[] NewSyntaxProbes =
    [
        "count(l in Electron + Muon) >= 0",
        "any(a, b, c in Jet where a.pt > 30)",
        "any(a, b, c, d in Jet: mass(a, b, c, d) > 0 && pt(a, b, c) > 0)",
        "any(j in Jet: !any(l in Electron + Muon where l.pt > 10: deltaR(j, l) < 0.4))",
        "any(l in Electron + Muon: any(m in Electron + Muon where m != l: l.kind == m.kind))",
        "argmin(a, b, c in Jet: abs(mass(a, b, c) - 172.5)).pt > 0",
        "argmax(a, b in Electron + Muon: a.pt).a.charge != 0",
        "argmax(l in Electron + Muon: l.pt).charge != 0",
        "max(MET_pt, nJet, nMuon) > 0",
        "any(l in Electron + Muon: mt(l, MET) > 0)",
    ];

    private static bool Compiles(RecordBatch batch, string filter)
    {
        try
        {
            ColumnarQuery.Compile(batch.Schema, ["MET_pt"], filter);
            return true;
        }
        catch (SelectionException)
        {
            return false;
        }
    }

    /// <summary>
    /// The SQL the new syntax prints runs in DuckDB, and means what the spec says: each printed form against a
    /// plain computation of the same thing (counts of unions and triples, the union's order and kinds, argmax and its
    /// fields, the pairs' pt written out, ADL query 7 as correlated subqueries), then the random new-syntax selections
    /// run without an error.
    /// </summary>
    [Theory]
    [MemberData(nameof(Samples.Files), MemberType = typeof(Samples))]
    public void NewSyntax_SqlRunsInDuckDbAndMeansTheSpec(string file)
    {
        var batch = Load(file);
        using var duckDb = Events(file, batch);
        var lepton = (IReadOnlyList<string>)["Electron", "Muon"];
        Field F(string variable, string name) => new(variable, name, Kind.Number);
        (Tree Printed, string Plain)[] cases =
        [
            (new Comprehension("count", ["l"], lepton, null, null), "len(Electron_pt) + len(Muon_pt)"),
            (new Comprehension("count", ["a", "b", "c"], ["Jet"], null, null), "len(Jet_pt) * (len(Jet_pt) - 1) * (len(Jet_pt) - 2) / 6"),
            (new Comprehension("count", ["l"], lepton, new Binary("==", F("l", "kind"), new Constant(1)), null), "len(Muon_pt)"),
            (new Comprehension("sum", ["l"], lepton, null, F("l", "pt")), "coalesce(list_sum(Electron_pt::DOUBLE[]), 0) + coalesce(list_sum(Muon_pt::DOUBLE[]), 0)"),
            (new Comprehension("sum", ["l"], lepton, null, F("l", "kind")), "len(Muon_pt)"),
            (new Comprehension("count", ["a", "b"], lepton, new Binary("&&", new Binary("==", F("a", "kind"), F("b", "kind")), new Binary("!=", F("a", "charge"), F("b", "charge"))), null),
                "len(list_filter(flatten(list_transform(range(1, len(Electron_pt) + 1), lambda i: list_transform(range(i + 1, len(Electron_pt) + 1), lambda j: Electron_charge[i] != Electron_charge[j]))), lambda x: x))"
                + " + len(list_filter(flatten(list_transform(range(1, len(Muon_pt) + 1), lambda i: list_transform(range(i + 1, len(Muon_pt) + 1), lambda j: Muon_charge[i] != Muon_charge[j]))), lambda x: x))"),
            (new Choice("argmax", new Comprehension("argmax", ["m"], ["Muon"], null, F("m", "pt")), null, "charge"),
                "coalesce(Muon_charge[list_position(Muon_pt, list_max(Muon_pt))]::DOUBLE, 'nan'::DOUBLE)"),
            (new Choice("argmin", new Comprehension("argmin", ["m"], ["Muon"], null, F("m", "eta")), "m", "pt"),
                "coalesce(Muon_pt[list_position(Muon_eta, list_min(Muon_eta))]::DOUBLE, 'nan'::DOUBLE)"),
            (new Choice("argmax", new Comprehension("argmax", ["l"], lepton, null, F("l", "pt")), null, "kind"),
                "CASE WHEN len(Electron_pt) + len(Muon_pt) = 0 THEN 'nan'::DOUBLE WHEN coalesce(list_max(Electron_pt), -1) >= coalesce(list_max(Muon_pt), -1) THEN 0 ELSE 1 END"),
            (new Choice("argmax", new Comprehension("argmax", ["a", "b"], ["Jet"], null, new Kinematic("pt", ["a", "b"])), null, "pt"),
                "coalesce(list_max(flatten(list_transform(range(1, len(Jet_pt) + 1), lambda i: list_transform(range(i + 1, len(Jet_pt) + 1), lambda j:"
                + " sqrt(pow(Jet_pt[i]::DOUBLE * cos(Jet_phi[i]::DOUBLE) + Jet_pt[j]::DOUBLE * cos(Jet_phi[j]::DOUBLE), 2) + pow(Jet_pt[i]::DOUBLE * sin(Jet_phi[i]::DOUBLE) + Jet_pt[j]::DOUBLE * sin(Jet_phi[j]::DOUBLE), 2)))))), 'nan'::DOUBLE)"),
            (new Extremum("max", [new Column("MET_pt", Kind.Number, null), new Column("nJet", Kind.Number, null), new Column("nMuon", Kind.Number, null)]),
                "greatest(MET_pt::DOUBLE, nJet::DOUBLE, nMuon::DOUBLE)"),
            // ADL query 7 (the spec's text), against correlated subqueries over the unnested objects.
            (new Comprehension("sum", ["j"], ["Jet"],
                new Binary("&&", new Binary(">", F("j", "pt"), new Constant(30)), new Unary("!", new Comprehension("any", ["l"], lepton, new Binary(">", F("l", "pt"), new Constant(10)), new Binary("<", new Kinematic("deltaR", ["j", "l"]), new Constant(0.4))))),
                F("j", "pt")),
                """
                (SELECT coalesce(sum(j.pt), 0) FROM (SELECT unnest(ev.Jet_pt)::DOUBLE AS pt, unnest(ev.Jet_eta)::DOUBLE AS eta, unnest(ev.Jet_phi)::DOUBLE AS phi) j
                 WHERE j.pt > 30 AND NOT EXISTS (
                     SELECT 1 FROM (SELECT unnest(ev.Electron_pt)::DOUBLE AS pt, unnest(ev.Electron_eta)::DOUBLE AS eta, unnest(ev.Electron_phi)::DOUBLE AS phi
                                    UNION ALL SELECT unnest(ev.Muon_pt), unnest(ev.Muon_eta), unnest(ev.Muon_phi)) l
                     WHERE l.pt > 10 AND sqrt(pow(j.eta - l.eta, 2) + pow(dphi_(j.phi - l.phi), 2)) < 0.4))
                """),
        ];
        var sql = new SqlPrinter();
        foreach (var (printed, plain) in cases)
        {
            var rows = DuckDb.Query(duckDb, $"SELECT {sql.Print(printed, SqlScope.Empty)}, {plain} FROM events ev ORDER BY file_row_number");
            Assert.Equal(40, rows.Count);
            DuckDb.AssertSame(rows.Select(r => new[] { r[1] }).ToList(), rows.Select(r => new[] { r[0] }).ToList());
        }

        var errors = new List<string>();
        var kept = 0;
        for (var seed = 0; seed < NewSyntaxQueries; seed++)
        {
            var query = new SelectionGenerator(new Random(seed)) { NewSyntax = true }.Query();
            try
            {
                kept += DuckDb.Query(duckDb, Trees.DuckDbSelect(query, "events")).Count;
            }
#pragma warning disable CA1031 // every error is reported with its seed
            catch (Exception ex)
#pragma warning restore CA1031
            {
                errors.Add($"seed {seed}: {ex.Message}\n{query.Describe(file)}");
            }
        }

        Assert.True(errors.Count == 0, $"{errors.Count} of {NewSyntaxQueries} new-syntax selections did not run in DuckDB; the first:\n\n{string.Join("\n\n", errors.Take(3))}");
        Assert.True(kept > NewSyntaxQueries, "the new-syntax selections kept almost no rows");
    }

    /// <summary>Runs <paramref name="count"/> selections over the file, and fails with the first that differ.</summary>
    private void Run(string file, int count, Func<int, RandomQuery> generate)
    {
        var batch = Load(file);
        using var duckDb = Events(file, batch);
        var failures = new List<string>();
        var rejected = new List<string>();
        var rows = 0;
        var clock = Stopwatch.StartNew();
        for (var seed = 0; seed < count; seed++)
        {
            var query = generate(seed);
            switch (Compare(duckDb, batch, query))
            {
                case Outcome.Rejected(var reason):
                    rejected.Add($"seed {seed}: {reason}\n{query.Describe(file)}");
                    break;
                case Outcome.Differs(var reason):
                    failures.Add($"seed {seed}: {reason}\n{query.Describe(file)}");
                    break;
                case Outcome.Same(var kept):
                    rows += kept;
                    break;
            }
        }

        output.WriteLine($"{count} selections over {Path.GetFileName(file)} in {clock.Elapsed.TotalSeconds:F1} s: {count - rejected.Count - failures.Count} agree ({rows} rows), {failures.Count} differ, {rejected.Count} rejected by the binder");
        Assert.True(failures.Count == 0, $"{failures.Count} of {count} selections differ from DuckDB; the first:\n\n{string.Join("\n\n", failures.Take(3))}");
        Assert.True(rejected.Count <= count / 20, $"{rejected.Count} of {count} generated selections did not compile (the generator drifted from the language); the first:\n\n{string.Join("\n\n", rejected.Take(3))}");
        Assert.True(rows > count, "the selections kept almost no rows: the comparison checks little");
    }

    /// <summary>The outcome of one selection.</summary>
    private abstract record Outcome
    {
        public sealed record Same(int Rows) : Outcome;

        public sealed record Differs(string Reason) : Outcome;

        public sealed record Rejected(string Reason) : Outcome;
    }

    private static Outcome Compare(DuckDBConnection duckDb, RecordBatch batch, RandomQuery query)
    {
        List<object[]> ours;
        try
        {
            var compiled = ColumnarQuery.Compile(batch.Schema, query.ColumnTexts, query.FilterText);
            using var result = compiled.Execute(batch);
            ours = result is null ? [] : [.. DuckDbOracle.Rows(result)];
        }
        catch (SelectionException ex)
        {
            return new Outcome.Rejected(ex.Message);
        }
#pragma warning disable CA1031 // any other exception is a finding, reported with its seed
        catch (Exception ex)
        {
            return new Outcome.Differs($"the engine threw {ex}");
        }

        List<object[]> theirs;
        try
        {
            theirs = DuckDb.Query(duckDb, Trees.DuckDbSelect(query, "events"));
        }
        catch (Exception ex)
        {
            return new Outcome.Differs($"DuckDB did not run the SQL (a printer bug): {ex.Message}");
        }
#pragma warning restore CA1031

        try
        {
            DuckDb.AssertSame(theirs, ours);
        }
        catch (Xunit.Sdk.XunitException ex)
        {
            return new Outcome.Differs($"{ex.Message}\nDuckDB: {Show(theirs)}\nours:   {Show(ours)}");
        }

        return new Outcome.Same(ours.Count);
    }

    private static string Show(List<object[]> rows) =>
        string.Join(" | ", rows.Take(12).Select(r => string.Join(", ", r.Select(v => v is double[] l ? $"[{string.Join(" ", l)}]" : $"{v}"))))
        + (rows.Count > 12 ? $" ... ({rows.Count} rows)" : $" ({rows.Count} rows)");

    /// <summary>DuckDB with the macros the SQL uses and the same columns of the file as the table <c>events</c> (the
    /// Parquet metadata of some 1 600 columns is read once, not for every selection).</summary>
    private static DuckDBConnection Events(string file, RecordBatch batch)
    {
        var connection = DuckDb.Open();
        var columns = string.Join(", ", batch.Schema.FieldsList.Select(f => f.Name));
        DuckDb.Query(connection, $"{Trees.Macros}CREATE TABLE events AS SELECT {columns}, file_row_number FROM {Trees.ParquetSource(file)}");
        return connection;
    }

    /// <summary>The file's columns that selections read, in one batch (40 events), read once per file.</summary>
    private static RecordBatch Load(string file)
    {
        using var input = ColumnarFile.OpenAsync(file, null, default).GetAwaiter().GetResult();
        var names = SelectionGenerator.ColumnNames.ToHashSet(StringComparer.Ordinal);
        return input.ReadBatches(input.Schema.FieldsList.Select(f => f.Name).Where(names.Contains).ToArray()).Single();
    }
}
