using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using static Shoppe.Logs.Tests.Otlp;

namespace Shoppe.Logs.Tests.Query;

public sealed class RequestLogsApiTests : IAsyncLifetime
{
    private readonly LogsServiceFactory _logs = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        // alice's request, with records from two services; bob's request; and a record that mallory wrote
        // under alice's request id, which alice must not be shown.
        await _logs.ExportAsync(Batch("delivery",
            new Rec("transform accepted: 3 files", "req-a", 9, "alice", 0),
            new Rec("reading nano_dy.parquet through the cache", "req-a", 5, "alice", 10),
            new Rec("file nano_bad.parquet unreadable: not a Parquet file", "req-a", 17, "alice", 20),
            new Rec("retrying nano_bad.parquet", "req-a", 13, "alice", 30)));
        await _logs.ExportAsync(Batch("cache",
            new Rec("miss: fetching 4 blocks from origin", "req-a", 9, null, 15),
            new Rec("secret of mallory", "req-a", 9, "mallory", 16)));
        await _logs.ExportAsync(Batch("delivery", new Rec("bob's transform accepted", "req-b", 9, "bob", 0)));
    }

    public async ValueTask DisposeAsync() => await _logs.DisposeAsync();

    private static async Task<JsonElement[]> RecordsAsync(HttpClient client, string url)
    {
        var json = await client.GetStringAsync(url, Ct);
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.GetProperty("records").EnumerateArray().Select(e => e.Clone()).ToArray();
    }

    [Fact]
    public async Task Owner_ReadsTheRequestsRecordsInTimeOrder_WithoutOtherUsersRecords()
    {
        using var alice = _logs.ClientFor("alice");
        var records = await RecordsAsync(alice, "/v1/requests/req-a/logs");

        Assert.Equal(
            ["transform accepted: 3 files", "reading nano_dy.parquet through the cache", "miss: fetching 4 blocks from origin",
             "file nano_bad.parquet unreadable: not a Parquet file", "retrying nano_bad.parquet"],
            records.Select(r => r.GetProperty("message").GetString()));
    }

    [Fact]
    public async Task AnotherUser_Gets403ProblemDetails_EverywhereIncludingSummaryAndFollow()
    {
        using var bob = _logs.ClientFor("bob");
        foreach (var url in new[] { "/v1/requests/req-a/logs", "/v1/requests/req-a/summary", "/v1/requests/req-a/logs?follow=true", "/v1/requests/req-a/logs?q=nano" })
        {
            using var response = await bob.GetAsync(url, Ct);
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            Assert.DoesNotContain("nano", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Mallory_WhoWroteUnderAlicesId_CannotReadIt()
    {
        using var mallory = _logs.ClientFor("mallory");
        Assert.Equal(HttpStatusCode.Forbidden, (await mallory.GetAsync("/v1/requests/req-a/logs", Ct)).StatusCode);
    }

    [Fact]
    public async Task Operator_ReadsEveryRecordOfAnyRequest()
    {
        using var ops = _logs.ClientFor("root", "operator");
        var records = await RecordsAsync(ops, "/v1/requests/req-a/logs");

        Assert.Equal(6, records.Length);
        Assert.Contains(records, r => r.GetProperty("message").GetString() == "secret of mallory");
        Assert.Single(await RecordsAsync(ops, "/v1/requests/req-b/logs"));
    }

    [Fact]
    public async Task NoToken_Is401_UnknownRequest_Is404()
    {
        using var anonymous = _logs.CreateClient();
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/v1/requests/req-a/logs", Ct)).StatusCode);

        using var alice = _logs.ClientFor("alice");
        using var unknown = await alice.GetAsync("/v1/requests/never-seen/logs", Ct);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal("application/problem+json", unknown.Content.Headers.ContentType?.MediaType);
    }

    [Theory]
    [InlineData("level=error", new[] { "file nano_bad.parquet unreadable: not a Parquet file" })]
    [InlineData("level=warn", new[] { "file nano_bad.parquet unreadable: not a Parquet file", "retrying nano_bad.parquet" })]
    [InlineData("service=cache", new[] { "miss: fetching 4 blocks from origin" })]
    [InlineData("q=parquet", new[] { "reading nano_dy.parquet through the cache", "file nano_bad.parquet unreadable: not a Parquet file", "retrying nano_bad.parquet" })]
    [InlineData("q=unreadable%20parquet", new[] { "file nano_bad.parquet unreadable: not a Parquet file" })]
    [InlineData("since=2026-11-25T12:00:00.020Z&until=2026-11-25T12:00:00.030Z", new[] { "file nano_bad.parquet unreadable: not a Parquet file" })]
    [InlineData("q=secret", new string[0])]
    public async Task Filters_SelectTheMatchingRecords(string query, string[] expected)
    {
        using var alice = _logs.ClientFor("alice");
        var records = await RecordsAsync(alice, $"/v1/requests/req-a/logs?{query}");

        Assert.Equal(expected, records.Select(r => r.GetProperty("message").GetString()));
    }

    [Fact]
    public async Task Paging_WithTheCursor_ReadsEveryRecordOnce()
    {
        using var alice = _logs.ClientFor("alice");
        var seen = new List<string>();
        string? cursor = null;
        var pages = 0;
        do
        {
            using var doc = JsonDocument.Parse(await alice.GetStringAsync($"/v1/requests/req-a/logs?limit=2{(cursor is null ? "" : $"&cursor={cursor}")}", Ct));
            seen.AddRange(doc.RootElement.GetProperty("records").EnumerateArray().Select(r => r.GetProperty("message").GetString()!));
            cursor = doc.RootElement.GetProperty("nextCursor").GetString();
            pages++;
        }
        while (cursor is not null);

        Assert.Equal(3, pages);
        Assert.Equal(5, seen.Count);
        Assert.Equal(seen.Count, seen.Distinct().Count());
    }

    [Fact]
    public async Task TextPlain_GivesReadableLines()
    {
        using var alice = _logs.ClientFor("alice");
        alice.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("text/plain"));
        var text = await alice.GetStringAsync("/v1/requests/req-a/logs?level=error", Ct);

        Assert.Equal("2026-11-25T12:00:00.020Z ERROR delivery   file nano_bad.parquet unreadable: not a Parquet file\n", text);
    }

    [Fact]
    public async Task NdJson_GivesOneRecordPerLine()
    {
        using var alice = _logs.ClientFor("alice");
        alice.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/x-ndjson"));
        using var response = await alice.GetAsync("/v1/requests/req-a/logs?limit=3", Ct);
        var lines = (await response.Content.ReadAsStringAsync(Ct)).Split('\n', StringSplitOptions.RemoveEmptyEntries);

        Assert.Equal("application/x-ndjson", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(3, lines.Length);
        Assert.All(lines, l => Assert.Equal("req-a", JsonDocument.Parse(l).RootElement.GetProperty("requestId").GetString()));
        Assert.True(response.Headers.Contains("X-Shoppe-Next-Cursor"));
    }

    [Fact]
    public async Task Html_IsAPageWithEveryMessageEscaped()
    {
        await _logs.ExportAsync(Batch("portal", new Rec("<script>alert(1)</script>", "req-html", 9, "alice")));
        using var alice = _logs.ClientFor("alice");
        alice.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("text/html"));
        var html = await alice.GetStringAsync("/v1/requests/req-html/logs", Ct);

        Assert.StartsWith("<!DOCTYPE html>", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<script>", html, StringComparison.Ordinal);
        Assert.Contains("&lt;script&gt;", html, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("level=loud")]
    [InlineData("limit=0")]
    [InlineData("limit=1000000000")]
    [InlineData("limit=ten")]
    [InlineData("cursor=not-a-cursor!!")]
    [InlineData("since=yesterday")]
    [InlineData("follow=maybe")]
    [InlineData("service=../../etc")]
    public async Task BadParameters_Are400ProblemDetails(string query)
    {
        using var alice = _logs.ClientFor("alice");
        using var response = await alice.GetAsync($"/v1/requests/req-a/logs?{query}", Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task OverlongText_Is400()
    {
        using var alice = _logs.ClientFor("alice");
        Assert.Equal(HttpStatusCode.BadRequest, (await alice.GetAsync($"/v1/requests/req-a/logs?q={new string('a', 300)}", Ct)).StatusCode);
    }

    [Theory]
    [InlineData("\" OR 1=1 --")]
    [InlineData("'; DROP TABLE records; --")]
    [InlineData("NEAR(parquet cache)")]
    [InlineData("message:secret")]
    [InlineData("secret*")]
    [InlineData("\"unbalanced")]
    public async Task InjectionAttemptsInText_AreSearchedAsPlainWords(string text)
    {
        using var alice = _logs.ClientFor("alice");
        var records = await RecordsAsync(alice, $"/v1/requests/req-a/logs?q={Uri.EscapeDataString(text)}");

        Assert.Empty(records);
        // and the store is intact
        Assert.Equal(5, (await RecordsAsync(alice, "/v1/requests/req-a/logs")).Length);
    }

    [Fact]
    public async Task Summary_CountsByLevelAndServiceAndNamesTheFirstError()
    {
        using var alice = _logs.ClientFor("alice");
        using var doc = JsonDocument.Parse(await alice.GetStringAsync("/v1/requests/req-a/summary", Ct));
        var s = doc.RootElement;

        Assert.Equal(5, s.GetProperty("total").GetInt64());
        Assert.Equal(2, s.GetProperty("byLevel").GetProperty("info").GetInt64());
        Assert.Equal(1, s.GetProperty("byLevel").GetProperty("error").GetInt64());
        Assert.Equal(4, s.GetProperty("byService").GetProperty("delivery").GetInt64());
        Assert.Equal(1, s.GetProperty("byService").GetProperty("cache").GetInt64());
        Assert.Equal("file nano_bad.parquet unreadable: not a Parquet file", s.GetProperty("firstError").GetProperty("message").GetString());
    }

    [Fact]
    public async Task Follow_StreamsRecordsAsServerSentEvents_UntilTheRequestFinishes()
    {
        using var alice = _logs.ClientFor("alice");
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/requests/req-a/logs?follow=true&level=warn");
        using var response = await alice.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Ct);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(Ct));

        var messages = new List<string>();
        var ended = false;
        var finishSent = false;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(20));
        string? eventName = null;
        while (!ended && await reader.ReadLineAsync(timeout.Token) is { } line)
        {
            if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                eventName = line[7..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                if (eventName == "end")
                {
                    ended = true;
                    break;
                }

                messages.Add(JsonDocument.Parse(line[6..]).RootElement.GetProperty("message").GetString()!);
                if (messages.Count == 2 && !finishSent)
                {
                    // the stored backlog has arrived: now the request goes on and then finishes
                    finishSent = true;
                    await _logs.ExportAsync(Batch("delivery",
                        new Rec("file nano_bad.parquet failed after 3 tries", "req-a", 17, "alice", 40),
                        new Rec("transform finished: 2 of 3 files", "req-a", 13, "alice", 50, State: "finished")));
                }
            }
        }

        Assert.True(ended, "the stream did not end after the request finished");
        Assert.Equal(
            ["file nano_bad.parquet unreadable: not a Parquet file", "retrying nano_bad.parquet",
             "file nano_bad.parquet failed after 3 tries", "transform finished: 2 of 3 files"],
            messages);
    }

    [Fact]
    public async Task Follow_ARecordArrivingAfterALaterOne_IsStillSentOnce()
    {
        // Two services export on their own schedules: the cache's later line is stored (and streamed) before the
        // delivery's earlier one arrives.
        await _logs.ExportAsync(Batch("cache", new Rec("cache: 6 reads", "req-late", 9, "alice", 300)));
        using var alice = _logs.ClientFor("alice");
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/requests/req-late/logs?follow=true");
        using var response = await alice.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Ct);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(Ct));

        var messages = new List<string>();
        var ids = new List<string?>();
        string? id = null;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(20));
        while (await reader.ReadLineAsync(timeout.Token) is { } line)
        {
            if (line.StartsWith("id: ", StringComparison.Ordinal))
            {
                id = line[4..];
            }
            else if (line.StartsWith("event: end", StringComparison.Ordinal))
            {
                break;
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                messages.Add(JsonDocument.Parse(line[6..]).RootElement.GetProperty("message").GetString()!);
                ids.Add(id);
                id = null;
                if (messages.Count == 1)
                {
                    await _logs.ExportAsync(Batch("delivery", new Rec("transform complete: 2 files", "req-late", 9, "alice", 200, State: "finished")));
                }
            }
        }

        Assert.Equal(["cache: 6 reads", "transform complete: 2 files"], messages);
        Assert.NotNull(ids[0]);
        Assert.Null(ids[1]); // sent late without an id: a reconnect goes on from the latest line, not back to it
    }

}
