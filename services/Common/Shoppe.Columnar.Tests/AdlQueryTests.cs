namespace Shoppe.Columnar.Tests;

/// <summary>
/// The IRIS-HEP ADL benchmark queries 1-8 and the slimming forms (conformance/data/nanoaod/README.md) on the real
/// NanoAOD samples, each compared row for row with DuckDB computing the same selection over the same file
/// (<see cref="AdlQueries"/> holds both sides' text).
/// </summary>
public sealed class AdlQueryTests
{
    private static List<object[]> Compare(AdlQuery query, string file)
    {
        var expected = query.Expected(file);
        var actual = DuckDbOracle.Ours(file, query.Columns, query.Filter);
        DuckDb.AssertSame(expected, actual);
        return actual;
    }

    [Theory]
    [MemberData(nameof(Samples.Files), MemberType = typeof(Samples))]
    public void Query1_MetOfAllEvents(string file)
    {
        var actual = Compare(AdlQueries.Query1, file);
        Assert.Equal(40, actual.Count);
    }

    [Theory]
    [MemberData(nameof(Samples.Files), MemberType = typeof(Samples))]
    public void Query2_PtOfAllJets(string file)
    {
        var actual = Compare(AdlQueries.Query2, file);
        Assert.Contains(actual, row => ((double[])row[0]).Length > 1);
    }

    [Theory]
    [MemberData(nameof(Samples.Files), MemberType = typeof(Samples))]
    public void Query3_PtOfCentralJets(string file)
    {
        var actual = Compare(AdlQueries.Query3, file);
        // The mask removed some jets and kept some.
        Assert.True(actual.Sum(r => ((double[])r[0]).Length) < DuckDbOracle.Ours(file, ["Jet_pt"], null).Sum(r => ((double[])r[0]).Length));
    }

    [Theory]
    [MemberData(nameof(Samples.Files), MemberType = typeof(Samples))]
    public void Query4_MetOfEventsWithTwoHardJets(string file) => Compare(AdlQueries.Query4, file);

    [Theory]
    [MemberData(nameof(Samples.Files), MemberType = typeof(Samples))]
    public void Query5_MetOfEventsWithAnOppositeChargeMuonPairNearTheZ(string file)
    {
        var actual = Compare(AdlQueries.Query5, file);
        if (file == Samples.Dimuon)
        {
            Assert.NotEmpty(actual); // collision data with Z -> mu mu: some events pass
        }
    }

    [Theory]
    [MemberData(nameof(Samples.Files), MemberType = typeof(Samples))]
    public void Query6_TrijetNearestTheTopMass_PtAndLargestBtag(string file)
    {
        var actual = Compare(AdlQueries.Query6, file);
        // Both samples have events with three jets or more, and events with fewer.
        Assert.InRange(actual.Count, 1, 39);
        Assert.All(actual, row => Assert.True((double)row[0] > 0 && !double.IsNaN((double)row[1])));
    }

    [Theory]
    [MemberData(nameof(Samples.Files), MemberType = typeof(Samples))]
    public void Query7_HtOfJetsAwayFromLeptons(string file)
    {
        var actual = Compare(AdlQueries.Query7, file);
        Assert.Equal(40, actual.Count);
        // Some events have a jet left, others none (every jet soft, or near a lepton: HT 0, not NaN).
        Assert.Contains(actual, row => (double)row[0] > 30);
        Assert.Contains(actual, row => (double)row[0] == 0);
    }

    [Theory]
    [MemberData(nameof(Samples.Files), MemberType = typeof(Samples))]
    public void Query8_TransverseMassOfMetAndTheLeptonOutsideTheZPair(string file)
    {
        var actual = Compare(AdlQueries.Query8, file);
        Assert.All(actual, row => Assert.False(double.IsNaN((double)row[0])));
        if (file == Samples.Dimuon)
        {
            // Collision data: 21 of its 40 events have three leptons or more, 16 of them a same-flavour opposite-charge pair.
            Assert.InRange(actual.Count, 1, 39);
        }
    }

    [Theory]
    [MemberData(nameof(Samples.Files), MemberType = typeof(Samples))]
    public void Slimming_ColumnListEventFilterAndObjectMask(string file) => Compare(AdlQueries.Slimming, file);
}
