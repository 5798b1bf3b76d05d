using Apache.Arrow;
using Apache.Arrow.Types;
using Shoppe.Columnar.Selection;

namespace Shoppe.Columnar.Tests.Selection;

public sealed class SelectionErrorTests
{
    private static readonly Schema Nano = new Schema.Builder()
        .Field(new Field("run", UInt32Type.Default, false))
        .Field(new Field("event", UInt64Type.Default, false))
        .Field(new Field("MET_pt", FloatType.Default, false))
        .Field(new Field("nMuon", UInt32Type.Default, false))
        .Field(new Field("HLT_IsoMu24", BooleanType.Default, false))
        .Field(List("Muon_pt", FloatType.Default))
        .Field(List("Muon_eta", FloatType.Default))
        .Field(List("Muon_charge", Int32Type.Default))
        .Field(List("Muon_tightId", BooleanType.Default))
        .Field(List("Jet_pt", FloatType.Default))
        .Build();

    private static Field List(string name, IArrowType element) => new(name, new LargeListType(new Field("element", element, false)), false);

    private static SelectionException Fails(string? filter, params string[] columns) =>
        Assert.Throws<SelectionException>(() => ColumnarQuery.Compile(Nano, columns.Length == 0 ? ["MET_pt"] : columns, filter));

    [Fact]
    public void Compile_UnknownColumn_NamesItWhereItIsAndSuggestsTheClosest()
    {
        var error = Fails("MET_pt > 20 && Muon_ptt > 5");
        Assert.Equal("Muon_ptt", error.Column);
        Assert.Equal(15, error.Position);
        Assert.Equal("filter", error.Where);
        Assert.Contains("did you mean 'Muon_pt'", error.Message, StringComparison.Ordinal);
        Assert.Contains("at character 16", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("MET_pt >", 8, "ends where a value was expected")]
    [InlineData("MET_pt > 20 &&& nMuon", 14, "'&' alone is not an operator; write && (and)")]
    [InlineData("MET_pt > 20 && && nMuon", 15, "expected a value, found '&&'")]
    [InlineData("(MET_pt > 20", 12, "')' to close the '(' at character 1")]
    [InlineData("MET_pt = 20", 7, "compare with '=='")]
    [InlineData("MET_pt > 2x", 9, "neither a number nor a name")]
    [InlineData("MET_pt # 2", 7, "unexpected character '#'")]
    [InlineData("Jet_pt[Jet_pt > 40", 18, "']' to close")]
    public void Parse_Malformed_PointsAtTheCharacter(string filter, int position, string reason)
    {
        var error = Fails(filter);
        Assert.Equal(position, error.Position);
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("MET_pt", "true or false for each event")]
    [InlineData("Muon_pt > 20", "reduce it to one per event")]
    [InlineData("MET_pt > 20 && 5", "needs true/false values")]
    [InlineData("HLT_IsoMu24 > 1", "needs numbers")]
    [InlineData("count(MET_pt > 20) > 0", "reduces a collection")]
    [InlineData("any(Muon_pt + Jet_pt > 1)", "do not line up object by object")]
    [InlineData("frobnicate(MET_pt) > 0", "unknown function 'frobnicate'")]
    [InlineData("abs(MET_pt, 2) > 0", "takes 1 argument")]
    [InlineData("any(m in Muon: Muon_pt > 20)", "read through its variables")]
    [InlineData("any(m in Muon: m.ptt > 20)", "no field 'ptt'")]
    [InlineData("any(m in Moun: m.pt > 20)", "unknown collection 'Moun'")]
    [InlineData("any(a, b in Muon: mass(a, b) > 60)", "needs the column Muon_phi")]
    [InlineData("mass(a, b) > 60", "works on the variables of a comprehension")]
    [InlineData("MET_pt[MET_pt > 1] > 0", "only per-object values")]
    [InlineData("count(Muon_pt[Muon_pt]) > 0", "a mask is a per-object true/false")]
    public void Bind_MistypedOrMisshapen_SaysWhatIsWrong(string filter, string reason)
    {
        var error = Fails(filter);
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Compile_BadColumn_SaysWhichColumn()
    {
        var error = Fails(null, "MET_pt", "Muon_pt[Muon_pt > ]");
        Assert.Equal("column 2", error.Where);
        Assert.Equal(18, error.Position);
    }

    [Fact]
    public void Compile_DuplicateOutputNames_AreRefused() =>
        Assert.Contains("two output columns are named 'Muon_pt'", Fails(null, "Muon_pt", "Muon_pt[Muon_pt > 20]").Message, StringComparison.Ordinal);

    [Fact]
    public void Compile_Aliases_NameComputedColumns()
    {
        var query = ColumnarQuery.Compile(Nano, ["ht = sum(Jet_pt)", "nGood = count(Muon_pt > 20 && Muon_tightId)", "Muon_pt[abs(Muon_eta) < 2.4]"], "HLT_IsoMu24 && 20 < MET_pt < 200");
        Assert.Equal(["ht", "nGood", "Muon_pt"], query.OutputSchema.FieldsList.Select(f => f.Name));
        Assert.IsType<DoubleType>(query.OutputSchema.FieldsList[0].DataType);
        Assert.IsType<Int64Type>(query.OutputSchema.FieldsList[1].DataType);
        Assert.IsType<LargeListType>(query.OutputSchema.FieldsList[2].DataType); // a masked column keeps its type
        Assert.Equal(["MET_pt", "HLT_IsoMu24", "Muon_pt", "Muon_eta", "Muon_tightId", "Jet_pt"], query.InputColumns);
    }

    [Fact]
    public void Parse_TooDeep_IsAnErrorNotAStackOverflow()
    {
        var deep = new string('(', 100_000) + "MET_pt > 1" + new string(')', 100_000);
        Assert.Contains("characters long", Fails(deep).Message, StringComparison.Ordinal);
        var nested = new string('(', 5000) + "MET_pt > 1" + new string(')', 5000);
        Assert.Contains("nests deeper than", Fails(nested).Message, StringComparison.Ordinal);
        Assert.Contains("nests deeper than", Fails(string.Concat(Enumerable.Repeat("!", 5000)) + "HLT_IsoMu24").Message, StringComparison.Ordinal);
        Assert.Contains("nests deeper than", Fails(string.Concat(Enumerable.Repeat("-", 5000)) + "MET_pt > 0").Message, StringComparison.Ordinal);
        // Long flat chains nest in the tree too: bounded by the operator count, not left to the stack.
        Assert.Contains("more than 1000 operators", Fails(string.Concat(Enumerable.Repeat("1+", 5000)) + "MET_pt > 0").Message, StringComparison.Ordinal);
        Assert.Contains("more than 1000 operators", Fails("Jet_pt" + string.Concat(Enumerable.Repeat("[0]", 5000)) + " > 0").Message, StringComparison.Ordinal);
    }
}
