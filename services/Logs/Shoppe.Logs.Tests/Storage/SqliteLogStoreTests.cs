using Shoppe.Logs.Storage;

namespace Shoppe.Logs.Tests.Storage;

public sealed class SqliteLogStoreTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("shoppe-store-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string DbPath => Path.Combine(_folder, "logs.db");

    private static LogRecordRow Row(string request, long ts, string message, string? user = "alice") =>
        new(request, ts, "delivery", 9, message, null, null, null, user, false);

    [Fact]
    public async Task AcknowledgedRecords_SurviveAReopen()
    {
        var store = new SqliteLogStore(DbPath);
        await store.AppendAsync([Row("r1", 1, "one"), Row("r1", 2, "two")], Ct);
        store.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();

        using var reopened = new SqliteLogStore(DbPath);
        var page = await reopened.QueryAsync(new LogQuery("r1", 0, null, null, null, null, null, 10, null), Ct);

        Assert.Equal(["one", "two"], page.Records.Select(r => r.Message));
        Assert.Equal("alice", (await reopened.GetRequestAsync("r1", Ct))?.Owner);
    }

    [Fact]
    public async Task Owner_IsTheFirstUserSeen_AndNeverChanges()
    {
        using var store = new SqliteLogStore(DbPath);
        await store.AppendAsync([Row("r1", 5, "service record", user: null)], Ct);
        await store.AppendAsync([Row("r1", 6, "alice's", user: "alice")], Ct);
        await store.AppendAsync([Row("r1", 7, "mallory's", user: "mallory")], Ct);

        Assert.Equal("alice", (await store.GetRequestAsync("r1", Ct))?.Owner);
    }

    [Fact]
    public async Task Retention_DeletesOldRecords_AndKeepsTextSearchConsistent()
    {
        using var store = new SqliteLogStore(DbPath);
        await store.AppendAsync([Row("old", 100, "ancient parquet"), Row("new", 10_000, "fresh parquet")], Ct);

        var deleted = await store.EnforceRetentionAsync(cutoffUnixNano: 1_000, maxBytes: long.MaxValue, Ct);

        Assert.Equal(1, deleted);
        Assert.Null(await store.GetRequestAsync("old", Ct));
        var hits = await store.QueryAsync(new LogQuery("new", 0, null, null, null, ["parquet"], null, 10, null), Ct);
        Assert.Equal(["fresh parquet"], hits.Records.Select(r => r.Message));
    }

    [Fact]
    public async Task Retention_BySize_DeletesTheOldestFirst()
    {
        using var store = new SqliteLogStore(DbPath);
        var rows = Enumerable.Range(0, 20_000).Select(i => Row(i < 10_000 ? "older" : "newer", i, new string('x', 200))).ToList();
        await store.AppendAsync(rows, Ct);
        var full = store.UsedBytes();

        await store.EnforceRetentionAsync(cutoffUnixNano: 0, maxBytes: full / 2, Ct);

        Assert.InRange(await store.CountAsync(Ct), 9_000, 10_000);
        Assert.Null(await store.GetRequestAsync("older", Ct));
        Assert.NotNull(await store.GetRequestAsync("newer", Ct));
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }
}
