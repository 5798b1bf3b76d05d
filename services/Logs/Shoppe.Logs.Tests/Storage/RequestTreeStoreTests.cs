using Microsoft.Data.Sqlite;
using Shoppe.Logs.Storage;
using Shoppe.Logs.Storage.Sqlite;

namespace Shoppe.Logs.Tests.Storage;

/// <summary>A request's descendants (a workflow's jobs, <c>W:0</c>, <c>W:5:0</c>, …) in the embedded store.</summary>
public sealed class RequestTreeStoreTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("shoppe-tree-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string DbPath => Path.Combine(_folder, "logs.db");

    private static LogRecordRow Row(string request, long ts, string message, string? user = "alice", int severity = 9, bool finishes = false) =>
        new(request, ts, "delivery", severity, message, null, null, null, user, finishes);

    private static LogQuery Query(string id, int limit = 100, string? visibleTo = null, bool descendants = true, LogCursor? after = null,
        IReadOnlyList<string>? words = null, long? since = null, long? until = null, int minSeverity = 0) =>
        new(id, minSeverity, null, since, until, words, after, limit, visibleTo, descendants);

    private static async Task<List<LogEntry>> ReadAllAsync(SqliteLogStore store, LogQuery query)
    {
        var all = new List<LogEntry>();
        LogCursor? after = null;
        do
        {
            var page = await store.QueryAsync(query with { After = after }, Ct);
            Assert.True(page.Records.Count <= query.Limit);
            all.AddRange(page.Records);
            after = page.Next;
        }
        while (after is not null);

        return all;
    }

    [Fact]
    public async Task Query_IncludesDescendants_InTimeOrder_EachWithItsOwnRequestId()
    {
        using var store = new SqliteLogStore(DbPath);
        await store.AppendAsync([Row("W", 10, "workflow submitted"), Row("W:0", 20, "job 0 starts"), Row("W:1", 15, "job 1 starts")], Ct);
        await store.AppendAsync([Row("W:1:0", 30, "sub-job runs"), Row("W", 40, "workflow done"), Row("other", 12, "not ours")], Ct);

        var page = await store.QueryAsync(Query("W"), Ct);

        Assert.Equal(["workflow submitted", "job 1 starts", "job 0 starts", "sub-job runs", "workflow done"], page.Records.Select(r => r.Message));
        Assert.Equal(["W", "W:1", "W:0", "W:1:0", "W"], page.Records.Select(r => r.RequestId));
        Assert.Equal(["job 1 starts", "sub-job runs"], (await store.QueryAsync(Query("W:1"), Ct)).Records.Select(r => r.Message));
    }

    [Fact]
    public async Task Query_WithoutDescendants_ReadsTheRequestAlone()
    {
        using var store = new SqliteLogStore(DbPath);
        await store.AppendAsync([Row("W", 10, "workflow submitted"), Row("W:0", 20, "job 0 starts"), Row("W", 40, "workflow done")], Ct);

        var page = await store.QueryAsync(Query("W", descendants: false), Ct);

        Assert.Equal(["workflow submitted", "workflow done"], page.Records.Select(r => r.Message));
        Assert.Null(await store.GetRequestAsync("W:", descendants: false, Ct));
        var request = await store.GetRequestAsync("W", descendants: false, Ct);
        Assert.Equal((10L, 40L, false), (request?.FirstSeenUnixNano, request?.LastSeenUnixNano, request?.Descendants));
    }

    [Theory]
    [InlineData("W1", new[] { "W1", "W1:0", "W1:0:7" })]
    [InlineData("W:1", new[] { "W:1", "W:1:0" })]
    [InlineData("W_1", new[] { "W_1" })]
    [InlineData("W.1", new[] { "W.1" })]
    public async Task Query_AnIdThatMerelyStartsTheSame_IsNoDescendant(string asked, string[] expected)
    {
        using var store = new SqliteLogStore(DbPath);
        string[] ids = ["W1", "W10", "W1:0", "W1:0:7", "W1-2", "W1.2", "W1;", "W1_", "W:1", "W:10", "W:1:0", "W:1;", "W:1_0", "W_1", "WX1", "W.1", "W.10"];
        await store.AppendAsync([.. ids.Select((id, i) => Row(id, i, id))], Ct);

        var page = await store.QueryAsync(Query(asked), Ct);

        Assert.Equal(expected, page.Records.Select(r => r.RequestId));
    }

    [Fact]
    public async Task ManyMembers_PagedInSmallPages_GiveEveryRecordOnceInTimeOrder()
    {
        using var store = new SqliteLogStore(DbPath);
        var random = new Random(20261125);
        // 40 jobs and 3 sub-jobs, overlapping in time, with ties in time across jobs; and records of other requests.
        var rows = new List<LogRecordRow>();
        for (var i = 0; i < 1200; i++)
        {
            var job = random.Next(43);
            var id = job < 40 ? $"W:{job}" : $"W:7:{job - 40}";
            rows.Add(Row(random.Next(10) == 0 ? "W" : id, random.Next(600), $"m{i}", severity: random.Next(4) == 0 ? 17 : 9));
            rows.Add(Row(random.Next(2) == 0 ? "W7" : "X", random.Next(600), $"other {i}"));
        }

        foreach (var chunk in rows.Chunk(97))
        {
            await store.AppendAsync(chunk, Ct);
        }

        var expected = rows.Select((r, i) => (Row: r, Id: i + 1L)).Where(x => x.Row.RequestId.StartsWith('W') && x.Row.RequestId != "W7")
            .OrderBy(x => x.Row.TimeUnixNano).ThenBy(x => x.Id).Select(x => x.Row.Message).ToList();
        Assert.Equal(expected, (await ReadAllAsync(store, Query("W", limit: 7))).Select(r => r.Message));
        Assert.Equal(expected, (await ReadAllAsync(store, Query("W", limit: 1000))).Select(r => r.Message));

        // Filters apply to every member alike.
        var errorsInWindow = rows.Select((r, i) => (Row: r, Id: i + 1L))
            .Where(x => x.Row.RequestId.StartsWith("W:7", StringComparison.Ordinal) && x.Row.Severity >= 17 && x.Row.TimeUnixNano is >= 100 and < 400)
            .OrderBy(x => x.Row.TimeUnixNano).ThenBy(x => x.Id).Select(x => x.Row.Message).ToList();
        Assert.NotEmpty(errorsInWindow);
        Assert.Equal(errorsInWindow, (await ReadAllAsync(store, Query("W:7", limit: 3, minSeverity: 17, since: 100, until: 400))).Select(r => r.Message));
    }

    [Fact]
    public async Task TextSearch_CoversTheDescendants()
    {
        using var store = new SqliteLogStore(DbPath);
        await store.AppendAsync([Row("W", 1, "file a unreadable"), Row("W:0", 2, "file b fine"), Row("W:1", 3, "file c unreadable"), Row("W10", 4, "file d unreadable")], Ct);

        var page = await store.QueryAsync(Query("W", words: ["unreadable"]), Ct);

        Assert.Equal(["file a unreadable", "file c unreadable"], page.Records.Select(r => r.Message));
        Assert.Equal(["W", "W:1"], page.Records.Select(r => r.RequestId));
    }

    [Fact]
    public async Task Request_OwnerIsTheRequestsOwn_ElseItsFirstDescendantsWithAUser_AndOnlyItsOwnEndFinishesIt()
    {
        using var store = new SqliteLogStore(DbPath);
        await store.AppendAsync([Row("W:0", 5, "unattributed", user: null), Row("W:1", 6, "bob's job", user: "bob"), Row("W:2", 7, "alice's job")], Ct);
        await store.AppendAsync([Row("W:1", 50, "job ended", user: "bob", finishes: true)], Ct);

        var before = await store.GetRequestAsync("W", descendants: true, Ct);
        Assert.Equal(("bob", false, 5L, 50L), (before?.Owner, before?.Finished, before?.FirstSeenUnixNano, before?.LastSeenUnixNano));
        Assert.Null(await store.GetRequestAsync("W", descendants: false, Ct));

        await store.AppendAsync([Row("W", 60, "workflow submitted", user: "alice"), Row("W", 70, "workflow finished", user: "alice", finishes: true)], Ct);
        var after = await store.GetRequestAsync("W", descendants: true, Ct);
        Assert.Equal(("alice", true, 5L, 70L), (after?.Owner, after?.Finished, after?.FirstSeenUnixNano, after?.LastSeenUnixNano));
        Assert.Null(await store.GetRequestAsync("W1", descendants: true, Ct));
    }

    [Fact]
    public async Task AUsersRead_LeavesOutOtherUsersRecords_AndTheUnattributedRecordsOfRequestsTheyOwn()
    {
        using var store = new SqliteLogStore(DbPath);
        await store.AppendAsync(
        [
            Row("W", 1, "alice submits"),
            Row("W:0", 2, "alice's job"),
            Row("W:0", 3, "pilot of job 0", user: null),
            Row("W:0", 4, "mallory under alice's job", user: "mallory"),
            Row("W:1", 5, "job 1, no user yet", user: null),
            Row("W:9", 6, "bob made this id", user: "bob"),
            Row("W:9", 7, "bob's worker", user: null),
            Row("W:9", 8, "alice's record under bob's id"),
        ], Ct);

        string[] alices = ["alice submits", "alice's job", "pilot of job 0", "job 1, no user yet", "alice's record under bob's id"];
        Assert.Equal(alices, (await store.QueryAsync(Query("W", visibleTo: "alice"), Ct)).Records.Select(r => r.Message));
        Assert.Equal(alices, (await ReadAllAsync(store, Query("W", limit: 2, visibleTo: "alice"))).Select(r => r.Message));
        Assert.Equal(8, (await store.QueryAsync(Query("W"), Ct)).Records.Count); // an operator's read

        // The summary counts what the reader may see, descendants included.
        var request = (await store.GetRequestAsync("W", descendants: true, Ct))!;
        Assert.Equal(5, (await store.SummarizeAsync(request, "alice", Ct)).Total);
        Assert.Equal(8, (await store.SummarizeAsync(request, null, Ct)).Total);
        Assert.Equal(1, (await store.SummarizeAsync((await store.GetRequestAsync("W", descendants: false, Ct))!, "alice", Ct)).Total);
        // And a text search, read in one statement, leaves out the same.
        Assert.Equal(["alice's record under bob's id"], (await store.QueryAsync(Query("W", visibleTo: "alice", words: ["bob's"]), Ct)).Records.Select(r => r.Message));
        Assert.Equal(["mallory under alice's job"], (await store.QueryAsync(Query("W", words: ["mallory"]), Ct)).Records.Select(r => r.Message));
    }

    [Fact]
    public async Task Summary_CountsTheDescendants_AndNamesTheFirstErrorOfAny()
    {
        using var store = new SqliteLogStore(DbPath);
        await store.AppendAsync([Row("W", 1, "submitted"), Row("W:1", 3, "job 1 broke", severity: 17), Row("W:0", 2, "job 0 ran"), Row("W:0", 4, "job 0 broke", severity: 17), Row("W1", 0, "not ours", severity: 17)], Ct);

        var summary = await store.SummarizeAsync((await store.GetRequestAsync("W", descendants: true, Ct))!, "alice", Ct);

        Assert.Equal(4, summary.Total);
        Assert.Equal(2, summary.ByLevel["error"]);
        Assert.Equal(("job 1 broke", "W:1"), (summary.FirstError?.Message, summary.FirstError?.RequestId));
    }

    [Fact]
    public async Task QueryPlans_FindTheTreeOnTheRequestIdIndex_AndReadEachMemberInIndexOrder()
    {
        using (var store = new SqliteLogStore(DbPath))
        {
            await store.AppendAsync([.. Enumerable.Range(0, 200).Select(i => Row($"W:{i % 20}", i, "m"))], Ct);
        }

        using var connection = new SqliteConnection($"Data Source={DbPath};Mode=ReadOnly;Pooling=False");
        connection.Open();
        foreach (var (descendants, withFrom, withLast) in new[] { (true, true, false), (true, false, true), (false, true, false) })
        {
            using var cmd = connection.CreateCommand();
            cmd.CommandText = "EXPLAIN QUERY PLAN " + TreeMembers.Sql(descendants, withFrom, withLast);
            cmd.Parameters.AddWithValue("$r", "W");
            cmd.Parameters.AddWithValue("$from", 0L);
            var plan = Plan(cmd);

            Assert.Contains("SEARCH requests USING", plan, StringComparison.Ordinal);
            Assert.Contains("INDEX sqlite_autoindex_requests_1 (request_id=?)", plan, StringComparison.Ordinal);
            if (descendants)
            {
                Assert.Contains("INDEX sqlite_autoindex_requests_1 (request_id>? AND request_id<?)", plan, StringComparison.Ordinal);
            }

            Assert.DoesNotContain("SCAN", plan, StringComparison.Ordinal);
            Assert.Contains("INDEX records_of_request (request=?", plan, StringComparison.Ordinal);
        }

        // A member's page: a seek on the (request, time) index from the cursor, in the index's order, no sort.
        using (var cmd = connection.CreateCommand())
        {
            var sql = SqliteLogQueries.MemberRead(cmd, new LogQuery("W", 9, null, null, null, null, new LogCursor(5, 5), 1000, "alice"));
            cmd.CommandText = "EXPLAIN QUERY PLAN " + sql;
            cmd.Parameters.AddWithValue("$key", 1L);
            cmd.Parameters.AddWithValue("$unattributed", 1);
            var plan = Plan(cmd);

            Assert.Contains("SEARCH records USING INDEX records_of_request (request=? AND ts>?)", plan, StringComparison.Ordinal);
            Assert.DoesNotContain("TEMP B-TREE", plan, StringComparison.Ordinal);
        }

        static string Plan(SqliteCommand cmd)
        {
            using var reader = cmd.ExecuteReader();
            var lines = new List<string>();
            while (reader.Read())
            {
                lines.Add(reader.GetString(3));
            }

            return string.Join('\n', lines);
        }
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }
}
