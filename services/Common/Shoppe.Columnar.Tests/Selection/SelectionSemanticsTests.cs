using Apache.Arrow;
using Apache.Arrow.Types;
using Shoppe.Columnar.Selection;

namespace Shoppe.Columnar.Tests.Selection;

/// <summary>
/// The language's corners on events written by hand, where the right answer is worked out in the test: unions and
/// their kind, choices (ties, none), membership, let, where, elements after masks, the types outputs keep.
/// </summary>
public sealed class SelectionSemanticsTests
{
    /// <summary>
    /// Three events. Electrons: (pt 50, charge -1), (pt 20, charge +1) | none | (pt 15, charge +1).
    /// Muons: (pt 40, +1) | (pt 30, -1), (pt 35, +1), (pt 5, -1) | none. MET_pt 10, 20, 30; MET_phi 0.
    /// Every object has eta 0, phi 0 or pi/2, mass 0.
    /// </summary>
    private static RecordBatch Events()
    {
        static LargeListArray Floats(params float[][] events) => List(FloatType.Default, events.Select(e => e.Select(v => (object)v).ToArray()).ToArray());
        static LargeListArray Ints(params int[][] events) => List(Int32Type.Default, events.Select(e => e.Select(v => (object)v).ToArray()).ToArray());
        var half = (float)(Math.PI / 2);
        var columns = new (string Name, IArrowArray Array)[]
        {
            ("MET_pt", new FloatArray.Builder().AppendRange([10f, 20f, 30f]).Build()),
            ("MET_phi", new FloatArray.Builder().AppendRange([0f, 0f, 0f]).Build()),
            ("Electron_pt", Floats([50f, 20f], [], [15f])),
            ("Electron_eta", Floats([0f, 0f], [], [0f])),
            ("Electron_phi", Floats([0f, half], [], [0f])),
            ("Electron_mass", Floats([0f, 0f], [], [0f])),
            ("Electron_charge", Ints([-1, 1], [], [1])),
            ("Muon_pt", Floats([40f], [30f, 35f, 5f], [])),
            ("Muon_eta", Floats([0f], [0f, 0f, 0f], [])),
            ("Muon_phi", Floats([half], [0f, half, 0f], [])),
            ("Muon_mass", Floats([0f], [0f, 0f, 0f], [])),
            ("Muon_charge", Ints([1], [-1, 1, -1], [])),
        };
        var schema = new Schema(columns.Select(c => new Field(c.Name, c.Array.Data.DataType, nullable: false)), null);
        return new RecordBatch(schema, columns.Select(c => c.Array), 3);
    }

    private static LargeListArray List(IArrowType element, object[][] events)
    {
        var offsets = new long[events.Length + 1];
        for (var e = 0; e < events.Length; e++)
        {
            offsets[e + 1] = offsets[e] + events[e].Length;
        }

        var flat = events.SelectMany(e => e).ToArray();
        IArrowArray values = element is FloatType
            ? new FloatArray.Builder().AppendRange(flat.Cast<float>()).Build()
            : new Int32Array.Builder().AppendRange(flat.Cast<int>()).Build();
        return new LargeListArray(new LargeListType(new Field("element", element, false)), events.Length, new ArrowBuffer(System.Runtime.InteropServices.MemoryMarshal.AsBytes(offsets.AsSpan()).ToArray()), values, ArrowBuffer.Empty, 0, 0);
    }

    private static List<object[]> Run(IReadOnlyList<string> columns, string? filter = null)
    {
        var batch = Events();
        var query = ColumnarQuery.Compile(batch.Schema, columns, filter);
        using var output = query.Execute(batch);
        return output is null ? [] : [.. DuckDbOracle.Rows(output)];
    }

    private static double[] Column(IReadOnlyList<string> columns, string? filter = null) => Run(columns, filter).Select(r => (double)r[0]).ToArray();

    [Fact]
    public void Union_RunsOverElectronsThenMuons_AndKindSaysWhich()
    {
        Assert.Equal([3.0, 3, 1], Column(["count(l in Electron + Muon)"]));
        Assert.Equal([1.0, 3, 0], Column(["count(l in Electron + Muon where l.kind == 1)"]));
        Assert.Equal([110.0, 70, 15], Column(["sum(l in Electron + Muon: l.pt)"]));
        // The first lepton of event 1 is the electron of pt 50; of event 2, the muon of pt 30.
        Assert.Equal([0.0, 1, 0], Column(["argmin(l in Electron + Muon: 0).kind"]));
    }

    [Fact]
    public void Choice_TiesGoToTheFirstCombination_NoneGivesNaN()
    {
        // Event 1: pairs (e50, e20), (e50, m40), (e20, m40): all weigh 0; the first is chosen.
        Assert.Equal(50.0, Column(["argmin(a, b in Electron + Muon: 0).a.pt"])[0]);
        // Event 3 has one lepton: no pair, so every field of the choice is NaN, and so is a function of it.
        var third = Run(["argmax(a, b in Electron + Muon: mass(a, b)).a.pt", "pt(argmax(a, b in Electron + Muon: mass(a, b)))"])[2];
        Assert.True(double.IsNaN((double)third[0]));
        Assert.True(double.IsNaN((double)third[1]));
    }

    [Fact]
    public void Choice_WhereKeepsOnlyItsCombinations_AndNotInExcludesTheChosen()
    {
        // Event 2, opposite-charge muon pairs: (30-, 35+) and (35+, 5-). Their masses: 30 and 35 at right angles ->
        // sqrt(2*30*35) = 45.8; 35 and 5 at right angles -> sqrt(2*35*5) = 18.7. Closest to 40 is the first.
        var rows = Run(
            ["z = argmin(a, b in Muon where a.charge != b.charge: abs(mass(a, b) - 40)).a.pt", "rest = let z = argmin(a, b in Muon where a.charge != b.charge: abs(mass(a, b) - 40)) in argmax(m in Muon where m not in z: m.pt).pt"],
            "count(m in Muon) >= 3");
        var row = Assert.Single(rows);
        Assert.Equal(30.0, (double)row[0]);
        Assert.Equal(5.0, (double)row[1]);
    }

    [Fact]
    public void Kinematics_OfChoicesAndEventVectors()
    {
        // Event 1: electron 50 at phi 0 and MET 10 at phi 0: mt = sqrt(2*50*10*(1 - cos 0)) = 0.
        // Muon 40 at phi pi/2 and MET 10 at phi 0: mt = sqrt(2*40*10) = 28.28.
        var rows = Run(["mt(argmax(e in Electron: e.pt), MET)", "mt(argmax(m in Muon: m.pt), MET)", "pt(argmax(e in Electron: e.pt), argmax(m in Muon: m.pt))"]);
        Assert.Equal(0, (double)rows[0][0], 9);
        Assert.Equal(Math.Sqrt(800), (double)rows[0][1], 5); // cos of pi/2 as a float is -4e-8, not 0
        Assert.Equal(Math.Sqrt((50 * 50) + (40 * 40)), (double)rows[0][2], 4);
    }

    [Fact]
    public void NestedComprehension_ReadsTheOuterVariable()
    {
        // Muons with no electron within deltaR < 0.1: event 1's muon (phi pi/2) has the electron of pt 20 at the
        // same place; event 2 has no electrons.
        Assert.Equal([0.0, 3, 0], Column(["count(m in Muon where !any(e in Electron: deltaR(m, e) < 0.1))"]));
    }

    [Fact]
    public void Let_NamesAValueOnce_AndElementsCountAfterMasks()
    {
        Assert.Equal([60.0, 80, 100], Column(["let x = MET_pt * 2 in x + 40"]));
        // The second muon above 10 GeV, from the end: event 2 keeps 30 and 35 -> from the end, the second is 30.
        var second = Column(["Muon_pt[Muon_pt > 10][-2]"]);
        Assert.True(double.IsNaN(second[0]));
        Assert.Equal(30.0, second[1]);
    }

    [Fact]
    public void Outputs_KeepFloat32WhereTheValueIsAFloatColumns()
    {
        var batch = Events();
        var query = ColumnarQuery.Compile(batch.Schema, ["a = max(Muon_pt)", "b = max(MET_pt, MET_phi)", "c = Muon_pt[0]", "d = MET_pt * 2", "e = count(Muon_pt > 1)", "f = Muon_pt > 10", "g = Muon_pt * 2"], null);
        var types = query.OutputSchema.FieldsList.Select(f => f.DataType.TypeId).ToArray();
        Assert.Equal([ArrowTypeId.Float, ArrowTypeId.Float, ArrowTypeId.Float, ArrowTypeId.Double, ArrowTypeId.Int64, ArrowTypeId.LargeList, ArrowTypeId.LargeList], types);
        Assert.IsType<BooleanType>(((LargeListType)query.OutputSchema.FieldsList[5].DataType).ValueDataType);
        Assert.IsType<DoubleType>(((LargeListType)query.OutputSchema.FieldsList[6].DataType).ValueDataType);
    }

    [Theory]
    [InlineData("count(a, b, c, d, e in Muon) > 0", "up to 4")]
    [InlineData("any(l in Electron + Muon: l.flavour > 0)", "no field 'flavour'")]
    [InlineData("any(l in Electron + Electron: l.pt > 0)", "named twice in the union")]
    [InlineData("argmin(Muon_pt) > 0", "chooses among the combinations of a comprehension")]
    [InlineData("argmin(a, b in Muon: a.pt > b.pt).pt > 0", "needs a number to minimise")]
    [InlineData("argmin(a, b in Muon: mass(a, b)).c > 0", "has the fields a, b (its objects) and pt, eta, phi, mass")]
    [InlineData("let x = 1 MET_pt > 0", "expected 'in' after the value of 'x'")]
    [InlineData("let MET_pt = 1 in MET_pt > 0", "already a column")]
    [InlineData("let x = Muon_pt in x > 0", "let names one value")]
    [InlineData("count(let x = 20 in Muon_pt[Muon_pt > x]) > 0", "put the let inside the mask")]
    [InlineData("any(m in Muon: m in MET_pt)", "'in' asks whether an object is one of a choice's objects")]
    [InlineData("any(m in Muon where m.pt: true)", "'where' needs true/false values")]
    [InlineData("mt(MET) > 0", "takes 2 objects")]
    [InlineData("any(m in Muon: any(m in Electron: m.pt > 0))", "hides a name already in use")]
    [InlineData("any(m in Muon: m > 0)", "needs numbers, but this is an object")]
    public void Bind_NewForms_SayWhatIsWrong(string filter, string reason)
    {
        var batch = Events();
        var error = Assert.Throws<SelectionException>(() => ColumnarQuery.Compile(batch.Schema, ["MET_pt"], filter));
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Choice_AmongEqualMasses_KeepsTheFirstCombination()
    {
        // Nine identical jets, so every combination weighs the same, numbered by Jet_idx: the first triple,
        // (0, 1, 2), is chosen; the first pair for the greatest mass; the first four.
        var nine = Enumerable.Repeat((object)30f, 9).ToArray();
        var zeros = Enumerable.Repeat((object)0f, 9).ToArray();
        LargeListArray Floats(object[] values) => List(FloatType.Default, [values]);
        var columns = new (string Name, IArrowArray Array)[]
        {
            ("Jet_pt", Floats(nine)), ("Jet_eta", Floats(zeros)), ("Jet_phi", Floats(zeros)), ("Jet_mass", Floats(Enumerable.Repeat((object)5f, 9).ToArray())),
            ("Jet_idx", List(Int32Type.Default, [Enumerable.Range(0, 9).Select(i => (object)i).ToArray()])),
        };
        var batch = new RecordBatch(new Schema(columns.Select(c => new Field(c.Name, c.Array.Data.DataType, false)), null), columns.Select(c => c.Array), 1);
        var query = ColumnarQuery.Compile(batch.Schema, ["argmin(a, b, c in Jet: abs(mass(a, b, c) - 172.5)).c.idx", "argmax(a, b in Jet: mass(a, b)).b.idx", "argmin(a, b, c, d in Jet: abs(mass(a, b, c, d) - 10)).d.idx"], null);
        using var output = query.Execute(batch);
        Assert.Equal([2.0, 1, 3], DuckDbOracle.Rows(output!).Single().Cast<double>());
    }

    [Fact]
    public void Execute_TooManyCombinations_FailsAtOnceWithTheEventAndCount()
    {
        // One event of 2 000 muons: 6.6e11 combinations of four, over the batch's budget before the first.
        var muons = Enumerable.Repeat(1f, 2000).ToArray();
        var pt = List(FloatType.Default, [muons.Select(v => (object)v).ToArray()]);
        var batch = new RecordBatch(new Schema([new Field("MET_pt", FloatType.Default, false), new Field("Muon_pt", pt.Data.DataType, false)], null), [new FloatArray.Builder().Append(1f).Build(), pt], 1);
        var query = ColumnarQuery.Compile(batch.Schema, ["MET_pt"], "any(a, b, c, d in Muon: a.pt > 0)");
        var error = Assert.Throws<ColumnarDataException>(() => query.Execute(batch));
        Assert.Contains("event 0 of the batch alone has 2,000 Muon objects", error.Message, StringComparison.Ordinal);
        // Pairs of the same muons (2 million) are well within it.
        Assert.NotNull(ColumnarQuery.Compile(batch.Schema, ["MET_pt"], "any(a, b in Muon: a.pt > 0)").Execute(batch));
    }

    [Fact]
    public void Execute_ColumnsOfOneCollectionWithOtherLayouts_AreRefused()
    {
        // Muon_pt has 2 then 1 objects, Muon_eta 1 then 2: the same total, another layout.
        var pt = List(FloatType.Default, [[1f, 2f], [3f]]);
        var eta = List(FloatType.Default, [[1f], [2f, 3f]]);
        var batch = new RecordBatch(new Schema([new Field("Muon_pt", pt.Data.DataType, false), new Field("Muon_eta", eta.Data.DataType, false)], null), [pt, eta], 2);
        var query = ColumnarQuery.Compile(batch.Schema, ["x = sum(Muon_pt * Muon_eta)"], null);
        var error = Assert.Throws<ColumnarDataException>(() => query.Execute(batch));
        Assert.Contains("disagree on how many objects event 0", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Compile_TheSameSchemaAndText_ReusesTheKernel()
    {
        var schema = Events().Schema;
        var query = ColumnarQuery.Compile(schema, ["MET_pt"], "count(m in Muon) > 1");
        Assert.Same(query, ColumnarQuery.Compile(Events().Schema, ["MET_pt"], "count(m in Muon) > 1"));
        Assert.NotSame(query, ColumnarQuery.Compile(schema, ["MET_pt"], "count(m in Muon) > 2"));
        Assert.NotSame(query, ColumnarQuery.Compile(schema, ["MET_pt", "MET_phi"], "count(m in Muon) > 1"));
        // The same names with another type are another schema: MET_pt as double.
        var doubles = new Schema(schema.FieldsList.Select(f => f.Name == "MET_pt" ? new Field("MET_pt", DoubleType.Default, false) : f), null);
        Assert.NotSame(query, ColumnarQuery.Compile(doubles, ["MET_pt"], "count(m in Muon) > 1"));
    }

    [Fact]
    public void Compile_AChoiceAsAColumn_AsksForAField()
    {
        var batch = Events();
        var error = Assert.Throws<SelectionException>(() => ColumnarQuery.Compile(batch.Schema, ["argmax(m in Muon: m.pt)"], null));
        Assert.Contains("write one of its fields", error.Message, StringComparison.Ordinal);
    }
}
