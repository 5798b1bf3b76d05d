using System.Globalization;
using System.Security.Claims;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Extensions;
using Microsoft.Extensions.Options;
using Shoppe.Logs.Storage;
using Shoppe.Security;
using Shoppe.ServiceDefaults.RequestIds;

namespace Shoppe.Logs.Query;

/// <summary>
/// A request's logs for its owner (or an operator): <c>GET /v1/requests/{id}/logs</c> as JSON, NDJSON,
/// plain lines, an HTML page or, with <c>follow=true</c>, Server-Sent Events; and <c>/summary</c>. Both cover
/// the request's descendants too (<see cref="RequestTrees"/>: a workflow's jobs), unless <c>descendants=false</c>.
/// </summary>
internal static class RequestLogsApi
{
    public static IEndpointRouteBuilder MapRequestLogsApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/v1/requests/{id}").RequireAuthorization(ShoppeClaims.UserPolicy);
        group.MapGet("/logs", GetLogsAsync)
            .WithName("GetRequestLogs")
            .WithSummary("One request's log records and its descendants', oldest first, in pages; follow=true streams new ones.");
        group.MapGet("/summary", GetSummaryAsync)
            .WithName("GetRequestSummary")
            .WithSummary("Counts of a request's records (and its descendants') by level and service, and its first error.");
        return routes;
    }

    private static async Task GetLogsAsync(HttpContext http, string id, ILogStore store, IOptions<LogsQueryOptions> options, CancellationToken cancellationToken)
    {
        var q = http.Request.Query;
        var parsed = ParseQuery(id, q, options.Value, http.Request.Headers["Last-Event-ID"]);
        if (parsed.Problem is { } problem)
        {
            await problem.ExecuteAsync(http);
            return;
        }

        var (access, request) = await AuthorizeAsync(http.User, id, parsed.Query!.Descendants, store, cancellationToken);
        if (access is not null)
        {
            await access.ExecuteAsync(http);
            return;
        }

        var query = parsed.Query! with { VisibleTo = http.User.IsOperator() ? null : http.User.UserName() };
        var format = LogFormats.Negotiate(http.Request.Headers.Accept);
        if (parsed.Follow || format == LogFormats.EventStream)
        {
            await FollowAsync(http, query, store, options.Value, cancellationToken);
            return;
        }

        var page = await store.QueryAsync(query, cancellationToken);
        var next = page.Next is { } cursor ? NextUrl(http.Request, cursor) : null;
        if (page.Next is { } n)
        {
            http.Response.Headers["X-Shoppe-Next-Cursor"] = n.ToString();
            http.Response.Headers.Link = $"<{next}>; rel=\"next\"";
        }

        http.Response.Headers.Vary = "Accept";
        switch (format)
        {
            case LogFormats.Text:
                http.Response.ContentType = "text/plain; charset=utf-8";
                var text = new StringBuilder();
                foreach (var e in page.Records)
                {
                    text.Append(LogFormats.TextLine(e, id)).Append('\n');
                }

                await http.Response.WriteAsync(text.ToString(), cancellationToken);
                break;
            case LogFormats.Html:
                http.Response.ContentType = "text/html; charset=utf-8";
                await http.Response.WriteAsync(LogFormats.HtmlPage(id, page, next), cancellationToken);
                break;
            case LogFormats.NdJson:
                http.Response.ContentType = LogFormats.NdJson;
                await using (var json = new Utf8JsonWriter(http.Response.BodyWriter))
                {
                    foreach (var e in page.Records)
                    {
                        LogFormats.WriteEntry(json, e);
                        await json.FlushAsync(cancellationToken);
                        json.Reset();
                        await http.Response.BodyWriter.WriteAsync("\n"u8.ToArray(), cancellationToken);
                    }
                }

                break;
            default:
                http.Response.ContentType = "application/json; charset=utf-8";
                await using (var json = new Utf8JsonWriter(http.Response.BodyWriter))
                {
                    json.WriteStartObject();
                    json.WriteString("requestId", id);
                    json.WriteBoolean("descendants", query.Descendants);
                    json.WriteString("owner", request!.Owner);
                    json.WriteBoolean("finished", request.Finished);
                    json.WriteStartArray("records");
                    foreach (var e in page.Records)
                    {
                        LogFormats.WriteEntry(json, e);
                    }

                    json.WriteEndArray();
                    json.WriteString("nextCursor", page.Next?.ToString());
                    json.WriteEndObject();
                }

                break;
        }
    }

    private static async Task FollowAsync(HttpContext http, LogQuery query, ILogStore store, LogsQueryOptions options, CancellationToken cancellationToken)
    {
        http.Response.ContentType = LogFormats.EventStream;
        http.Response.Headers.CacheControl = "no-cache";
        http.Response.Headers["X-Accel-Buffering"] = "no";
        await http.Response.Body.FlushAsync(cancellationToken);

        using var maxDuration = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        maxDuration.CancelAfter(options.FollowMaxDuration);
        var after = query.After;
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(4096);
        // Records sent within the look-back, by id: a record that arrives after later ones is found by looking back
        // and sent once, without an event id (the client's Last-Event-ID stays at the latest record it has).
        var sent = new Dictionary<long, long>();
        var lookBack = options.FollowLookBack.Ticks * 100;
        try
        {
            while (true)
            {
                var page = await store.QueryAsync(query with { After = after }, maxDuration.Token);
                foreach (var e in page.Records)
                {
                    await SendAsync(e, withId: true);
                    after = e.Cursor;
                }

                if (page.Next is not null)
                {
                    await http.Response.Body.FlushAsync(maxDuration.Token);
                    continue; // more already stored: no waiting
                }

                await LookBackAsync();
                await http.Response.Body.FlushAsync(maxDuration.Token);

                // The request itself said it is over (a descendant's end does not end it), and everything up to now
                // has been sent: end the stream.
                var request = await store.GetRequestAsync(query.RequestId, query.Descendants, maxDuration.Token);
                if (query.VisibleTo is not null && request?.Owner != query.VisibleTo)
                {
                    // Owned through its descendants until the request's own first record named someone else: what
                    // was sent was the reader's; the rest is not. Reconnecting is answered 403.
                    return;
                }

                if (request?.Finished == true)
                {
                    var last = await store.QueryAsync(query with { After = after, Limit = 1 }, maxDuration.Token);
                    if (last.Records.Count == 0)
                    {
                        await LookBackAsync(); // what arrived late with the request's end goes before it
                        await http.Response.WriteAsync("event: end\ndata: {\"finished\":true}\n\n", maxDuration.Token);
                        await http.Response.Body.FlushAsync(maxDuration.Token);
                        return;
                    }

                    continue;
                }

                await Task.Delay(options.FollowPollInterval, maxDuration.Token);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // the follow reached its longest duration: the client reconnects with Last-Event-ID
        }
        catch (OperationCanceledException)
        {
            // the client went away
        }

        async Task LookBackAsync()
        {
            if (lookBack <= 0 || after is not { } latest)
            {
                return;
            }

            // From the look-back's start, but never before where this stream began (the client has those).
            var start = query.After is { } floor && floor.TimeUnixNano >= latest.TimeUnixNano - lookBack
                ? floor
                : new LogCursor(latest.TimeUnixNano - lookBack, long.MinValue);
            var again = await store.QueryAsync(query with { After = start }, maxDuration.Token);
            foreach (var e in again.Records.Where(e => Before(e, latest) && !sent.ContainsKey(e.Id)))
            {
                await SendAsync(e, withId: false);
            }

            foreach (var old in sent.Where(s => s.Value < latest.TimeUnixNano - (2 * lookBack)).Select(s => s.Key).ToList())
            {
                sent.Remove(old);
            }
        }

        static bool Before(LogEntry e, LogCursor cursor) =>
            e.TimeUnixNano < cursor.TimeUnixNano || (e.TimeUnixNano == cursor.TimeUnixNano && e.Id < cursor.Id);

        async Task SendAsync(LogEntry e, bool withId)
        {
            buffer.Clear();
            using (var json = new Utf8JsonWriter(buffer))
            {
                LogFormats.WriteEntry(json, e);
            }

            await http.Response.WriteAsync(withId ? $"id: {e.Cursor}\nevent: log\ndata: " : "event: log\ndata: ", maxDuration.Token);
            await http.Response.Body.WriteAsync(buffer.WrittenMemory, maxDuration.Token);
            await http.Response.WriteAsync("\n\n", maxDuration.Token);
            sent[e.Id] = e.TimeUnixNano;
        }
    }

    private static async Task<IResult> GetSummaryAsync(HttpContext http, string id, ILogStore store, CancellationToken cancellationToken)
    {
        if (!RequestId.IsValid(id))
        {
            return BadRequest("Invalid request id", $"'{Truncate(id)}' is not a request id.");
        }

        if (!TryDescendants(http.Request.Query, out var descendants))
        {
            return BadRequest("Invalid descendants", DescendantsDetail);
        }

        var (access, request) = await AuthorizeAsync(http.User, id, descendants, store, cancellationToken);
        if (access is not null)
        {
            return access;
        }

        var summary = await store.SummarizeAsync(request!, http.User.IsOperator() ? null : http.User.UserName(), cancellationToken);
        return TypedResults.Ok(new
        {
            requestId = id,
            descendants,
            owner = summary.Request.Owner,
            finished = summary.Request.Finished,
            firstSeen = FromNanos(summary.Request.FirstSeenUnixNano),
            lastSeen = FromNanos(summary.Request.LastSeenUnixNano),
            total = summary.Total,
            byLevel = summary.ByLevel,
            byService = summary.ByService,
            firstError = summary.FirstError is { } e
                ? new { id = e.Id, time = e.Time, service = e.Service, level = e.Level, message = e.Message }
                : null,
        });
    }

    /// <summary>
    /// 404 for a request nobody logged (nor any of its descendants, when they count), 403 for someone else's
    /// (<see cref="RequestTrees"/> says whose); null when the caller may read it.
    /// </summary>
    private static async Task<(IResult? Problem, RequestInfo? Request)> AuthorizeAsync(ClaimsPrincipal user, string id, bool descendants, ILogStore store, CancellationToken cancellationToken)
    {
        var request = await store.GetRequestAsync(id, descendants, cancellationToken);
        if (request is null)
        {
            return (TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "Unknown request",
                detail: descendants ? $"No log record of request {id} or of its descendants has arrived." : $"No log record of request {id} has arrived."), null);
        }

        if (!user.IsOperator() && request.Owner != user.UserName())
        {
            return (TypedResults.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Not your request",
                detail: $"Request {id} belongs to another user; only its owner and operators read its logs."), null);
        }

        return (null, request);
    }

    private sealed record ParsedQuery(LogQuery? Query, bool Follow, IResult? Problem);

    private static ParsedQuery ParseQuery(string id, IQueryCollection q, LogsQueryOptions options, string? lastEventId)
    {
        if (!RequestId.IsValid(id))
        {
            return Fail("Invalid request id", $"'{Truncate(id)}' is not a request id.");
        }

        var minSeverity = 0;
        if (q.TryGetValue("level", out var level) && !LogLevels.TryMinSeverity(level, out minSeverity))
        {
            return Fail("Invalid level", $"level must be one of {string.Join(", ", LogLevels.Names)}.");
        }

        string? service = null;
        if (q.TryGetValue("service", out var svc))
        {
            if (!ShoppeClaims.IsValidName(svc))
            {
                return Fail("Invalid service", "service must be a service name (1-64 of A-Za-z0-9._-).");
            }

            service = svc;
        }

        if (!TryTime(q, "since", out var since, out var bad) || !TryTime(q, "until", out var until, out bad))
        {
            return Fail("Invalid time", bad!);
        }

        if (!TextQuery.TryParse(q["q"], out var words, out var textError))
        {
            return Fail("Invalid text query", textError!);
        }

        var limit = options.DefaultLimit;
        if (q.TryGetValue("limit", out var limitText)
            && (!int.TryParse(limitText, NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit < 1 || limit > options.MaxLimit))
        {
            return Fail("Invalid limit", $"limit must be a whole number from 1 to {options.MaxLimit}; page with the cursor for more.");
        }

        LogCursor? after = null;
        var cursorText = q.TryGetValue("cursor", out var c) ? c.ToString() : lastEventId;
        if (!string.IsNullOrEmpty(cursorText))
        {
            if (!LogCursor.TryParse(cursorText, out var cursor))
            {
                return Fail("Invalid cursor", "cursor must be a nextCursor value this service returned.");
            }

            after = cursor;
        }

        var follow = false;
        if (q.TryGetValue("follow", out var f) && !bool.TryParse(f, out follow))
        {
            return Fail("Invalid follow", "follow must be true or false.");
        }

        if (!TryDescendants(q, out var descendants))
        {
            return Fail("Invalid descendants", DescendantsDetail);
        }

        return new ParsedQuery(new LogQuery(id, minSeverity, service, since, until, words, after, limit, null, descendants), follow, null);

        static ParsedQuery Fail(string title, string detail) => new(null, false, BadRequest(title, detail));
    }

    private const string DescendantsDetail = "descendants must be true (the default: the request's descendants' records too) or false.";

    private static bool TryDescendants(IQueryCollection q, out bool descendants)
    {
        descendants = true;
        return !q.TryGetValue("descendants", out var d) || bool.TryParse(d, out descendants);
    }

    private static bool TryTime(IQueryCollection q, string name, out long? unixNano, out string? error)
    {
        unixNano = null;
        error = null;
        if (!q.TryGetValue(name, out var text))
        {
            return true;
        }

        if (!DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var time))
        {
            error = $"{name} must be an ISO 8601 time such as 2026-11-25T12:00:00Z.";
            return false;
        }

        unixNano = (time.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) * 100;
        return true;
    }

    private static Microsoft.AspNetCore.Http.HttpResults.ProblemHttpResult BadRequest(string title, string detail) =>
        TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: title, detail: detail);

    private static string NextUrl(HttpRequest request, LogCursor cursor)
    {
        var query = request.Query.Where(kv => kv.Key != "cursor")
            .Select(kv => new KeyValuePair<string, string?>(kv.Key, kv.Value))
            .Append(new KeyValuePair<string, string?>("cursor", cursor.ToString()));
        return request.PathBase + request.Path + QueryString.Create(query);
    }

    private static DateTimeOffset FromNanos(long unixNano) => DateTimeOffset.UnixEpoch.AddTicks(unixNano / 100);

    private static string Truncate(string s) => s.Length <= 64 ? s : s[..64] + "…";
}
