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

    /// <summary>Every query with a relational formulation, on every sample.</summary>
    public static TheoryData<string, string> RelationalCases
    {
        get
        {
            var cases = new TheoryData<string, string>();
            foreach (var name in AdlQueries.RelationalNames)
            {
                foreach (var file in Samples.Files)
                {
                    cases.Add(name, file);
                }
            }

            return cases;
        }
    }

    /// <summary>DuckDB's two formulations of a combinatorial query, list lambdas and unnests with self-joins, give the same rows.</summary>
    [Theory]
    [MemberData(nameof(RelationalCases))]
    public void RelationalSql_SameRowsAsListSql(string name, string file)
    {
        var query = AdlQueries.Named(name);
        DuckDb.AssertSame(query.Expected(file), query.ExpectedRelational(file));
    }

    /// <summary>
    /// Five events written for the corners of the combinatorial queries (<see cref="CornerEvents"/>): ties, NaN
    /// inputs, too few objects, no objects. The two DuckDB formulations agree, and the ties go to the first
    /// combination.
    /// </summary>
    [Theory]
    [MemberData(nameof(AdlQueries.RelationalNames), MemberType = typeof(AdlQueries))]
    public async Task RelationalSql_TiesAndNaN_SameRowsAsListSql(string name)
    {
        var query = AdlQueries.Named(name);
        var folder = Directory.CreateTempSubdirectory("shoppe-adl-corners-").FullName;
        try
        {
            var file = Path.Combine(folder, "corners.parquet");
            DuckDb.Query(CornerEvents(file));

            var lists = query.Expected(file);
            var joins = query.ExpectedRelational(file);

            DuckDb.AssertSame(lists, joins);
            Assert.NotEmpty(lists);
            if (query == AdlQueries.Query6)
            {
                // Event 1: four equal jets, every trijet as near; the first, (1, 2, 3), has b-tags 0.1, 0.2, 0.3.
                Assert.Equal((double)0.3f, (double)joins[0][1]);
            }
            else if (query == AdlQueries.Query8)
            {
                // Event 1: pairs (e1, e2) and (e2, e3) tie; of e3, mu1, mu2 (pT 40 each) e3 is first: φ 0, MET φ π/2.
                Assert.Equal(Math.Sqrt(2 * 40 * 30), (double)joins[0][0], 1e-4);
            }
        }
        finally
        {
            await TestFolders.DeleteAsync(folder);
        }
    }

    /// <summary>
    /// Writes the corner events to <paramref name="file"/>. 1: four equal jets (ties among trijets), three equal electrons of
    /// charges +, -, + (the pairs (1, 2) and (2, 3) tie) and two muons, the three other leptons all of pT 40 (a tie for
    /// the highest). 2: a jet of NaN η (its trijets never chosen), an electron pair of NaN mass (no Z pair: NaN mT).
    /// 3: two jets (no trijet), a muon pair at 90 GeV and a muon of NaN pT (its pairs NaN, never the highest).
    /// 4: a jet of NaN pT (NaN HT), a muon pair of NaN mass, two leptons only. 5: no objects.
    /// </summary>
    private static string CornerEvents(string file) => $$"""
        COPY (
            SELECT len(Jet_pt)::INTEGER AS nJet, Jet_pt::FLOAT[] AS Jet_pt, Jet_eta::FLOAT[] AS Jet_eta, Jet_phi::FLOAT[] AS Jet_phi,
                Jet_mass::FLOAT[] AS Jet_mass, Jet_btagDeepB::FLOAT[] AS Jet_btagDeepB,
                Electron_pt::FLOAT[] AS Electron_pt, Electron_eta::FLOAT[] AS Electron_eta, Electron_phi::FLOAT[] AS Electron_phi,
                Electron_mass::FLOAT[] AS Electron_mass, Electron_charge::INTEGER[] AS Electron_charge,
                Muon_pt::FLOAT[] AS Muon_pt, Muon_eta::FLOAT[] AS Muon_eta, Muon_phi::FLOAT[] AS Muon_phi,
                Muon_mass::FLOAT[] AS Muon_mass, Muon_charge::INTEGER[] AS Muon_charge,
                MET_pt::FLOAT AS MET_pt, MET_phi::FLOAT AS MET_phi
            FROM (VALUES
                ([50, 50, 50, 50], [0, 0, 0, 0], [0, 0, 0, 0], [5, 5, 5, 5], [0.1, 0.2, 0.3, 0.9],
                    [40, 40, 40], [1, 1, 1], [0, 0, 0], [0, 0, 0], [1, -1, 1],
                    [40, 40], [2, 2], [1, 2], [0.1, 0.1], [1, 1], 30, 1.5707964),
                ([60, 60, 70, 80], ['nan'::DOUBLE, 0.5, -0.5, 1], [1, 2, 3, -2], [5, 6, 7, 8], [0.5, 0.4, 0.3, 0.2],
                    [30, 30], [0, 'nan'::DOUBLE], [0, 1], [0, 0], [1, -1],
                    [20], [0], [2], [0.1], [1], 40, 0),
                ([35, 45], [0, 0], [0, 1], [5, 5], [0.5, 0.6],
                    [20], [0], [3], [0], [1],
                    [45, 45, 'nan'::DOUBLE], [0, 0, 0], [0, 3.14159265, 1], [0.1, 0.1, 0.1], [1, -1, -1], 50, 2),
                ([40, 50, 60, 'nan'::DOUBLE], [0, 1, -1, 0], [0, 2, -2, 1], [5, 5, 5, 5], [0.1, 0.2, 0.3, 0.4],
                    [], [], [], [], [],
                    [45, 45], ['nan'::DOUBLE, 0], [0, 3.14159265], [0.1, 0.1], [1, -1], 60, 1),
                ([], [], [], [], [],
                    [], [], [], [], [],
                    [], [], [], [], [], 70, 0)
            ) t(Jet_pt, Jet_eta, Jet_phi, Jet_mass, Jet_btagDeepB, Electron_pt, Electron_eta, Electron_phi, Electron_mass, Electron_charge,
                Muon_pt, Muon_eta, Muon_phi, Muon_mass, Muon_charge, MET_pt, MET_phi)
        ) TO '{{file}}' (FORMAT parquet)
        """;
}
