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
        Assert.Equal("alice", (await reopened.GetRequestAsync("r1", descendants: false, Ct))?.Owner);
    }

    [Fact]
    public async Task Owner_IsTheFirstUserSeen_AndNeverChanges()
    {
        using var store = new SqliteLogStore(DbPath);
        await store.AppendAsync([Row("r1", 5, "service record", user: null)], Ct);
        await store.AppendAsync([Row("r1", 6, "alice's", user: "alice")], Ct);
        await store.AppendAsync([Row("r1", 7, "mallory's", user: "mallory")], Ct);

        Assert.Equal("alice", (await store.GetRequestAsync("r1", descendants: false, Ct))?.Owner);
    }

    [Fact]
    public async Task Retention_DeletesOldRecords_AndKeepsTextSearchConsistent()
    {
        using var store = new SqliteLogStore(DbPath);
        await store.AppendAsync([Row("old", 100, "ancient parquet"), Row("new", 10_000, "fresh parquet")], Ct);

        var deleted = await store.EnforceRetentionAsync(cutoffUnixNano: 1_000, maxBytes: long.MaxValue, Ct);

        Assert.Equal(1, deleted);
        Assert.Null(await store.GetRequestAsync("old", descendants: false, Ct));
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
        Assert.Null(await store.GetRequestAsync("older", descendants: false, Ct));
        Assert.NotNull(await store.GetRequestAsync("newer", descendants: false, Ct));
    }

    [Fact]
    public async Task TextSearch_FindsRecordsTheIndexHadNotReachedBeforeARestart()
    {
        var store = new SqliteLogStore(DbPath);
        await store.AppendAsync([Row("r1", 1, "reading nano_1.parquet"), Row("r1", 2, "file unreadable: truncated")], Ct);
        store.Dispose();

        using var reopened = new SqliteLogStore(DbPath);
        var hits = await reopened.QueryAsync(new LogQuery("r1", 0, null, null, null, ["unreadable"], null, 10, null), Ct);

        Assert.Equal(["file unreadable: truncated"], hits.Records.Select(r => r.Message));
    }

    [Fact]
    public async Task RecordIds_AreNotReused_AfterRetentionEmptiedTheStore()
    {
        using (var store = new SqliteLogStore(DbPath))
        {
            await store.AppendAsync([Row("gone", 100, "secret word")], Ct);
            Assert.Single((await store.QueryAsync(new LogQuery("gone", 0, null, null, null, ["secret"], null, 10, null), Ct)).Records);
            Assert.Equal(1, await store.EnforceRetentionAsync(cutoffUnixNano: 1_000, maxBytes: long.MaxValue, Ct));
        }

        using var reopened = new SqliteLogStore(DbPath);
        await reopened.AppendAsync([Row("later", 5_000, "an ordinary record")], Ct);

        // Had the new record taken the deleted one's id, the text index would still hold "secret" for it.
        Assert.Empty((await reopened.QueryAsync(new LogQuery("later", 0, null, null, null, ["secret"], null, 10, null), Ct)).Records);
        Assert.Single((await reopened.QueryAsync(new LogQuery("later", 0, null, null, null, ["ordinary"], null, 10, null), Ct)).Records);
    }

    [Fact]
    public async Task AStoreInTheFirstLayout_IsMigratedWithEveryRecordAndOwner()
    {
        // The layout of the first logs service: records keyed by the request id text, the text index inside.
        using (var old = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={DbPath};Pooling=False"))
        {
            old.Open();
            using var cmd = old.CreateCommand();
            cmd.CommandText = """
                PRAGMA journal_mode = WAL;
                CREATE TABLE request_owners (request_id TEXT PRIMARY KEY, owner TEXT, finished INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
                CREATE TABLE records (id INTEGER PRIMARY KEY, request_id TEXT NOT NULL, ts INTEGER NOT NULL, service TEXT NOT NULL,
                    severity INTEGER NOT NULL, message TEXT NOT NULL, attributes TEXT, trace_id TEXT, span_id TEXT, enduser TEXT);
                CREATE INDEX records_of_request ON records (request_id);
                CREATE VIRTUAL TABLE records_fts USING fts5 (message, content = 'records', content_rowid = 'id');
                CREATE TABLE text_index (indexed_up_to INTEGER NOT NULL);
                INSERT INTO text_index VALUES (2);
                INSERT INTO request_owners VALUES ('r1', 'alice', 1);
                INSERT INTO records VALUES (1, 'r1', 10, 'delivery', 9, 'transform accepted', NULL, NULL, NULL, 'alice'),
                                           (2, 'r1', 20, 'delivery', 17, 'file unreadable', '{"file":"a.parquet"}', NULL, NULL, 'alice'),
                                           (3, 'r2', 15, 'cache', 9, 'no owner recorded', NULL, NULL, NULL, NULL);
                INSERT INTO records_fts (rowid, message) SELECT id, message FROM records WHERE id <= 2;
                """;
            cmd.ExecuteNonQuery();
        }

        using var store = new SqliteLogStore(DbPath);

        var r1 = await store.GetRequestAsync("r1", descendants: false, Ct);
        Assert.Equal(("alice", true, 10L, 20L), (r1?.Owner, r1?.Finished, r1?.FirstSeenUnixNano, r1?.LastSeenUnixNano));
        var page = await store.QueryAsync(new LogQuery("r1", 0, null, null, null, null, null, 10, null), Ct);
        Assert.Equal(["transform accepted", "file unreadable"], page.Records.Select(r => r.Message));
        Assert.Equal("""{"file":"a.parquet"}""", page.Records[1].AttributesJson);
        Assert.Equal(["no owner recorded"], (await store.QueryAsync(new LogQuery("r2", 0, null, null, null, null, null, 10, null), Ct)).Records.Select(r => r.Message));
        Assert.Equal(["file unreadable"], (await store.QueryAsync(new LogQuery("r1", 0, null, null, null, ["unreadable"], null, 10, null), Ct)).Records.Select(r => r.Message));

        // New records go on after the migrated ones.
        await store.AppendAsync([Row("r1", 30, "transform finished")], Ct);
        Assert.Equal(3, (await store.QueryAsync(new LogQuery("r1", 0, null, null, null, null, null, 10, null), Ct)).Records.Count);
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }
}
