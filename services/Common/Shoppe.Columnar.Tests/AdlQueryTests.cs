namespace Shoppe.Columnar.Tests;

/// <summary>
/// The IRIS-HEP ADL benchmark queries 1-5 and the slimming forms (conformance/data/nanoaod/README.md) on the real
/// NanoAOD samples, each compared row for row with DuckDB computing the same selection over the same file.
/// </summary>
public sealed class AdlQueryTests
{
    private static string From(string file) => $"read_parquet('{file}', file_row_number = true)";

    [Theory]
    [MemberData(nameof(Samples.Files), MemberType = typeof(Samples))]
    public void Query1_MetOfAllEvents(string file)
    {
        var expected = DuckDb.Query($"SELECT MET_pt::DOUBLE FROM {From(file)} ORDER BY file_row_number");
        var actual = DuckDbOracle.Ours(file, ["MET_pt"], null);
        Assert.Equal(40, actual.Count);
        DuckDb.AssertSame(expected, actual);
    }

    [Theory]
    [MemberData(nameof(Samples.Files), MemberType = typeof(Samples))]
    public void Query2_PtOfAllJets(string file)
    {
        var expected = DuckDb.Query($"SELECT Jet_pt::DOUBLE[] FROM {From(file)} ORDER BY file_row_number");
        var actual = DuckDbOracle.Ours(file, ["Jet_pt"], null);
        DuckDb.AssertSame(expected, actual);
        Assert.Contains(actual, row => ((double[])row[0]).Length > 1);
    }

    [Theory]
    [MemberData(nameof(Samples.Files), MemberType = typeof(Samples))]
    public void Query3_PtOfCentralJets(string file)
    {
        var expected = DuckDb.Query($"SELECT list_filter(Jet_pt, (x, i) -> abs(Jet_eta[i]) < 1)::DOUBLE[] FROM {From(file)} ORDER BY file_row_number");
        var actual = DuckDbOracle.Ours(file, ["Jet_pt[abs(Jet_eta) < 1]"], null);
        DuckDb.AssertSame(expected, actual);
        // The mask removed some jets and kept some.
        Assert.True(actual.Sum(r => ((double[])r[0]).Length) < DuckDbOracle.Ours(file, ["Jet_pt"], null).Sum(r => ((double[])r[0]).Length));
    }

    [Theory]
    [MemberData(nameof(Samples.Files), MemberType = typeof(Samples))]
    public void Query4_MetOfEventsWithTwoHardJets(string file)
    {
        var expected = DuckDb.Query($"SELECT MET_pt::DOUBLE FROM {From(file)} WHERE len(list_filter(Jet_pt, x -> x > 40)) >= 2 ORDER BY file_row_number");
        var actual = DuckDbOracle.Ours(file, ["MET_pt"], "count(Jet_pt > 40) >= 2");
        DuckDb.AssertSame(expected, actual);
    }

    [Theory]
    [MemberData(nameof(Samples.Files), MemberType = typeof(Samples))]
    public void Query5_MetOfEventsWithAnOppositeChargeMuonPairNearTheZ(string file)
    {
        // The invariant mass of two muons from (pt, eta, phi, m), as four-vectors in double precision.
        var sql = $"""
            CREATE MACRO px(pt, phi) AS pt::DOUBLE * cos(phi::DOUBLE);
            CREATE MACRO py(pt, phi) AS pt::DOUBLE * sin(phi::DOUBLE);
            CREATE MACRO pz(pt, eta) AS pt::DOUBLE * sinh(eta::DOUBLE);
            CREATE MACRO e(pt, eta, phi, m) AS sqrt(px(pt, phi) ^ 2 + py(pt, phi) ^ 2 + pz(pt, eta) ^ 2 + m::DOUBLE ^ 2);
            SELECT MET_pt::DOUBLE FROM {From(file)} ev
            WHERE EXISTS (
                SELECT 1 FROM range(1, len(ev.Muon_pt) + 1) a(i), range(1, len(ev.Muon_pt) + 1) b(j)
                WHERE i < j AND ev.Muon_charge[i] != ev.Muon_charge[j]
                  AND sqrt(greatest(0,
                        (e(ev.Muon_pt[i], ev.Muon_eta[i], ev.Muon_phi[i], ev.Muon_mass[i]) + e(ev.Muon_pt[j], ev.Muon_eta[j], ev.Muon_phi[j], ev.Muon_mass[j])) ^ 2
                        - (px(ev.Muon_pt[i], ev.Muon_phi[i]) + px(ev.Muon_pt[j], ev.Muon_phi[j])) ^ 2
                        - (py(ev.Muon_pt[i], ev.Muon_phi[i]) + py(ev.Muon_pt[j], ev.Muon_phi[j])) ^ 2
                        - (pz(ev.Muon_pt[i], ev.Muon_eta[i]) + pz(ev.Muon_pt[j], ev.Muon_eta[j])) ^ 2)) BETWEEN 60 AND 120)
            ORDER BY file_row_number
            """;
        var expected = DuckDb.Query(sql);
        var actual = DuckDbOracle.Ours(file, ["MET_pt"], "any(a, b in Muon: a.charge != b.charge && 60 <= mass(a, b) && mass(a, b) <= 120)");
        DuckDb.AssertSame(expected, actual);
        if (file == Samples.Dimuon)
        {
            Assert.NotEmpty(actual); // collision data with Z -> mu mu: some events pass
        }
    }

    [Theory]
    [MemberData(nameof(Samples.Files), MemberType = typeof(Samples))]
    public void Slimming_ColumnListEventFilterAndObjectMask(string file)
    {
        var expected = DuckDb.Query($"""
            SELECT run::DOUBLE, luminosityBlock::DOUBLE, event::DOUBLE,
                   list_filter(Muon_pt, x -> x > 20)::DOUBLE[], Muon_eta::DOUBLE[], Muon_charge::DOUBLE[], MET_pt::DOUBLE
            FROM {From(file)} WHERE nMuon >= 2 ORDER BY file_row_number
            """);
        var actual = DuckDbOracle.Ours(file, ["run", "luminosityBlock", "event", "Muon_pt[Muon_pt > 20]", "Muon_eta", "Muon_charge", "MET_pt"], "nMuon >= 2");
        DuckDb.AssertSame(expected, actual);
    }
}
