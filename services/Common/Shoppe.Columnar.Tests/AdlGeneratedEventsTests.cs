using Shoppe.Columnar.Generation;
using Shoppe.Columnar.Io;

namespace Shoppe.Columnar.Tests;

/// <summary>
/// The ADL queries 1-8 and slimming on 20 000 generated NanoAOD-shaped events (one file, five row groups), compared
/// row for row with DuckDB: more combinations, more row-group boundaries and more corner events than the 80 real
/// ones hold. The file is written once for the class.
/// </summary>
public sealed class AdlGeneratedEventsTests(AdlGeneratedEventsTests.GeneratedEvents generated) : IClassFixture<AdlGeneratedEventsTests.GeneratedEvents>
{
    /// <summary>Resampled from the two real samples; seed fixed so that a failure repeats.</summary>
    public sealed class GeneratedEvents : IAsyncLifetime
    {
        public const int Events = 20_000;
        public const int RowGroup = 4_000;
        public const int Seed = 16;

        private readonly string _folder = Directory.CreateTempSubdirectory("shoppe-adl-").FullName;

        public string File { get; private set; } = "";

        public ValueTask InitializeAsync()
        {
            File = NanoAodGenerator.Write([Samples.DrellYan, Samples.Dimuon], _folder, Events, 1, RowGroup, Seed).Files.Single();
            return ValueTask.CompletedTask;
        }

        public async ValueTask DisposeAsync() => await TestFolders.DeleteAsync(_folder);
    }

    [Theory]
    [MemberData(nameof(AdlQueries.Names), MemberType = typeof(AdlQueries))]
    public void Query_GeneratedEvents_SameAsDuckDb(string name)
    {
        var query = AdlQueries.Named(name);

        var expected = query.Expected(generated.File);
        var actual = DuckDbOracle.Ours(generated.File, query.Columns, query.Filter);

        DuckDb.AssertSame(expected, actual);
        // Something to compare: every event without a filter; with one, some events kept and some dropped.
        if (query.Filter is null)
        {
            Assert.Equal(GeneratedEvents.Events, actual.Count);
        }
        else
        {
            Assert.InRange(actual.Count, 1, GeneratedEvents.Events - 1);
        }
    }

    /// <summary>DuckDB's two formulations of a combinatorial query, list lambdas and unnests with self-joins, give the same rows.</summary>
    [Theory]
    [MemberData(nameof(AdlQueries.RelationalNames), MemberType = typeof(AdlQueries))]
    public void RelationalSql_GeneratedEvents_SameRowsAsListSql(string name)
    {
        var query = AdlQueries.Named(name);

        var lists = query.Expected(generated.File);
        var joins = query.ExpectedRelational(generated.File);

        DuckDb.AssertSame(lists, joins);
        Assert.NotEmpty(lists);
    }

    [Fact]
    public async Task Generator_OneFile_SeveralRowGroups()
    {
        using var input = await ColumnarFile.OpenAsync(generated.File, null, TestContext.Current.CancellationToken);
        Assert.Equal(GeneratedEvents.Events, input.Events);
        Assert.Equal(GeneratedEvents.Events / GeneratedEvents.RowGroup, input.RowGroups);
    }
}
