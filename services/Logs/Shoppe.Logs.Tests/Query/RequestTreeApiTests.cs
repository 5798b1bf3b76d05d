using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using static Shoppe.Logs.Tests.Otlp;

namespace Shoppe.Logs.Tests.Query;

/// <summary>
/// A workflow's logs through the API: <c>wf</c> has jobs <c>wf:0</c> and <c>wf:1</c>, and job 1 started a
/// sub-workflow whose job is <c>wf:1:0</c>. <c>wf1</c> only starts with the same characters as <c>wf</c>, and
/// <c>wf:10</c> (job 10 of <c>wf</c>) as <c>wf:1</c>.
/// </summary>
public sealed class RequestTreeApiTests : IAsyncLifetime
{
    private readonly LogsServiceFactory _logs = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        await _logs.ExportAsync(Batch("workflow",
            new Rec("workflow accepted: 2 jobs", "wf", 9, "alice", 0),
            new Rec("job 0 submitted", "wf:0", 9, "alice", 10),
            new Rec("job 1 submitted", "wf:1", 9, "alice", 20)));
        await _logs.ExportAsync(Batch("pilot",
            new Rec("job 0 running on node 3", "wf:0", 9, null, 30),
            new Rec("job 0 cannot open nano_bad.parquet", "wf:0", 17, null, 40),
            new Rec("job 0 ended", "wf:0", 9, null, 45, State: "failed"),
            new Rec("sub-job running", "wf:1:0", 9, null, 50),
            new Rec("mallory's record under alice's job", "wf:1", 9, "mallory", 55)));
        // Ids that merely start with the same characters as wf and wf:1.
        await _logs.ExportAsync(Batch("workflow",
            new Rec("another workflow", "wf1", 9, "alice", 5),
            new Rec("job 10 submitted", "wf:10", 9, "alice", 25)));
        // Bob sent a request with an id under alice's workflow: his and his request's records stay his.
        await _logs.ExportAsync(Batch("delivery",
            new Rec("bob's request", "wf:7", 9, "bob", 60),
            new Rec("bob's worker", "wf:7", 9, null, 61)));
    }

    public async ValueTask DisposeAsync() => await _logs.DisposeAsync();

    private static async Task<(JsonElement Root, string[] Messages, string[] Ids)> ReadAsync(HttpClient client, string url)
    {
        using var doc = JsonDocument.Parse(await client.GetStringAsync(url, Ct));
        var records = doc.RootElement.GetProperty("records").EnumerateArray().ToArray();
        return (doc.RootElement.Clone(), [.. records.Select(r => r.GetProperty("message").GetString()!)], [.. records.Select(r => r.GetProperty("requestId").GetString()!)]);
    }

    [Fact]
    public async Task Logs_OfAWorkflow_HaveItsJobsAndSubJobs_AndNothingThatOnlyStartsTheSame()
    {
        using var alice = _logs.ClientFor("alice");

        var (root, messages, ids) = await ReadAsync(alice, "/v1/requests/wf/logs");

        Assert.Equal(
            ["workflow accepted: 2 jobs", "job 0 submitted", "job 1 submitted", "job 10 submitted", "job 0 running on node 3",
             "job 0 cannot open nano_bad.parquet", "job 0 ended", "sub-job running"],
            messages);
        Assert.Equal(["wf", "wf:0", "wf:1", "wf:10", "wf:0", "wf:0", "wf:0", "wf:1:0"], ids);
        Assert.True(root.GetProperty("descendants").GetBoolean());
        Assert.Equal("alice", root.GetProperty("owner").GetString());
        Assert.False(root.GetProperty("finished").GetBoolean()); // job 0 failed; the workflow has not ended

        Assert.Equal(["job 1 submitted", "sub-job running"], (await ReadAsync(alice, "/v1/requests/wf:1/logs")).Messages);
        Assert.Equal(["another workflow"], (await ReadAsync(alice, "/v1/requests/wf1/logs")).Messages);
    }

    [Fact]
    public async Task Logs_WithDescendantsFalse_AreTheRequestsOwn()
    {
        using var alice = _logs.ClientFor("alice");

        var (root, messages, _) = await ReadAsync(alice, "/v1/requests/wf/logs?descendants=false");

        Assert.Equal(["workflow accepted: 2 jobs"], messages);
        Assert.False(root.GetProperty("descendants").GetBoolean());
        Assert.Equal(["job 1 submitted"], (await ReadAsync(alice, "/v1/requests/wf:1/logs?descendants=false")).Messages);
    }

    [Fact]
    public async Task OtherUsersRecords_AndTheirRequestsUnderTheWorkflow_AreHidden_ButNotFromOperators()
    {
        using var alice = _logs.ClientFor("alice");
        var (_, messages, _) = await ReadAsync(alice, "/v1/requests/wf/logs?q=bob%27s");
        Assert.Empty(messages);
        Assert.DoesNotContain("mallory's record under alice's job", (await ReadAsync(alice, "/v1/requests/wf/logs")).Messages);

        using var ops = _logs.ClientFor("root", "operator");
        var all = (await ReadAsync(ops, "/v1/requests/wf/logs")).Messages;
        Assert.Contains("mallory's record under alice's job", all);
        Assert.Contains("bob's worker", all);

        // Bob owns nothing of the workflow: he may not read it; his own request he may.
        using var bob = _logs.ClientFor("bob");
        Assert.Equal(HttpStatusCode.Forbidden, (await bob.GetAsync("/v1/requests/wf/logs", Ct)).StatusCode);
        Assert.Equal(["bob's request", "bob's worker"], (await ReadAsync(bob, "/v1/requests/wf:7/logs")).Messages);
    }

    [Fact]
    public async Task AnIdWithOnlyDescendants_IsReadable_ByTheirOwner_AndUnknownOtherwise()
    {
        await _logs.ExportAsync(Batch("workflow", new Rec("job of a workflow that has not logged", "quiet:0", 9, "alice", 0)));
        using var alice = _logs.ClientFor("alice");
        using var bob = _logs.ClientFor("bob");

        Assert.Equal(["job of a workflow that has not logged"], (await ReadAsync(alice, "/v1/requests/quiet/logs")).Messages);
        Assert.Equal(HttpStatusCode.Forbidden, (await bob.GetAsync("/v1/requests/quiet/logs", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await alice.GetAsync("/v1/requests/quiet/logs?descendants=false", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await alice.GetAsync("/v1/requests/qui/logs", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await alice.GetAsync("/v1/requests/quiet:1/summary", Ct)).StatusCode);
    }

    [Fact]
    public async Task TextPlain_NamesTheJobOfEachDescendantsLine()
    {
        using var alice = _logs.ClientFor("alice");
        alice.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("text/plain"));

        var lines = (await alice.GetStringAsync("/v1/requests/wf/logs?since=2026-11-25T12:00:00.020Z&until=2026-11-25T12:00:00.050Z", Ct)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var ownLines = await alice.GetStringAsync("/v1/requests/wf/logs?until=2026-11-25T12:00:00.001Z", Ct);

        Assert.Equal(
            ["2026-11-25T12:00:00.020Z INFO  workflow   [:1] job 1 submitted",
             "2026-11-25T12:00:00.025Z INFO  workflow   [:10] job 10 submitted",
             "2026-11-25T12:00:00.030Z INFO  pilot      [:0] job 0 running on node 3",
             "2026-11-25T12:00:00.040Z ERROR pilot      [:0] job 0 cannot open nano_bad.parquet",
             "2026-11-25T12:00:00.045Z INFO  pilot      [:0] job 0 ended"],
            lines);
        Assert.Equal("2026-11-25T12:00:00.000Z INFO  workflow   workflow accepted: 2 jobs\n", ownLines);
    }

    [Fact]
    public async Task NdJsonAndHtml_CarryEachRecordsRequest()
    {
        using var alice = _logs.ClientFor("alice");
        using var ndjson = new HttpRequestMessage(HttpMethod.Get, "/v1/requests/wf:1/logs");
        ndjson.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/x-ndjson"));
        using var response = await alice.SendAsync(ndjson, Ct);
        var ids = (await response.Content.ReadAsStringAsync(Ct)).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => JsonDocument.Parse(l).RootElement.GetProperty("requestId").GetString());
        Assert.Equal(["wf:1", "wf:1:0"], ids);

        using var html = new HttpRequestMessage(HttpMethod.Get, "/v1/requests/wf:1/logs");
        html.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/html"));
        var page = await (await alice.SendAsync(html, Ct)).Content.ReadAsStringAsync(Ct);
        Assert.Contains("<th>request</th>", page, StringComparison.Ordinal);
        Assert.Contains("<td class=\"req\" title=\"wf:1:0\">:0</td>", page, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Summary_CountsTheDescendantsTheReaderMaySee()
    {
        using var alice = _logs.ClientFor("alice");

        using var all = JsonDocument.Parse(await alice.GetStringAsync("/v1/requests/wf/summary", Ct));
        using var own = JsonDocument.Parse(await alice.GetStringAsync("/v1/requests/wf/summary?descendants=false", Ct));

        Assert.Equal(8, all.RootElement.GetProperty("total").GetInt64());
        Assert.True(all.RootElement.GetProperty("descendants").GetBoolean());
        Assert.Equal(4, all.RootElement.GetProperty("byService").GetProperty("pilot").GetInt64());
        Assert.Equal("job 0 cannot open nano_bad.parquet", all.RootElement.GetProperty("firstError").GetProperty("message").GetString());
        Assert.Equal(1, own.RootElement.GetProperty("total").GetInt64());
        Assert.Equal(JsonValueKind.Null, own.RootElement.GetProperty("firstError").ValueKind);
    }

    [Theory]
    [InlineData("/v1/requests/wf/logs?descendants=maybe")]
    [InlineData("/v1/requests/wf/summary?descendants=1")]
    public async Task BadDescendants_Is400(string url)
    {
        using var alice = _logs.ClientFor("alice");
        using var response = await alice.GetAsync(url, Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("descendants", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Follow_GoesOnPastAJobsEnd_AndEndsWithTheWorkflowsOwn()
    {
        using var alice = _logs.ClientFor("alice");
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/requests/wf/logs?follow=true&since=2026-11-25T12:00:00.045Z");
        using var response = await alice.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Ct);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(Ct));
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(20));

        var received = new List<string>();
        var ended = false;
        string? eventName = null;
        while (!ended && await reader.ReadLineAsync(timeout.Token) is { } line)
        {
            if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                eventName = line[7..];
                continue;
            }

            if (!line.StartsWith("data: ", StringComparison.Ordinal))
            {
                continue;
            }

            if (eventName == "end")
            {
                ended = true;
                break;
            }

            using var record = JsonDocument.Parse(line[6..]);
            received.Add($"{record.RootElement.GetProperty("requestId").GetString()} {record.RootElement.GetProperty("message").GetString()}");
            if (received.Count == 2)
            {
                // Job 0's failure is already stored and did not end the stream: now job 1 and the sub-job end, and
                // after a moment the workflow does.
                await _logs.ExportAsync(Batch("pilot",
                    new Rec("sub-job ended", "wf:1:0", 9, null, 70, State: "finished"),
                    new Rec("job 1 ended", "wf:1", 9, null, 80, State: "finished")));
            }
            else if (received.Count == 4)
            {
                await _logs.ExportAsync(Batch("workflow", new Rec("workflow finished: 1 of 2 jobs failed", "wf", 13, "alice", 90, State: "finished")));
            }
        }

        Assert.True(ended, "the stream did not end after the workflow finished");
        Assert.Equal(
            ["wf:0 job 0 ended", "wf:1:0 sub-job running", "wf:1:0 sub-job ended", "wf:1 job 1 ended", "wf workflow finished: 1 of 2 jobs failed"],
            received);
    }
}
