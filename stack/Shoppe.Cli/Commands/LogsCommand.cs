using System.CommandLine;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Spectre.Console;

namespace Shoppe.Cli.Commands;

/// <summary>
/// <c>shoppe logs &lt;request-id&gt; [--follow] [--level error] [--service delivery] [--no-descendants]</c>: a
/// request's logs, with its descendants' (a workflow's jobs) unless told not to, coloured by level, from the logs
/// service — no Elasticsearch or kubectl needed.
/// </summary>
internal static class LogsCommand
{
    public static Command Build(IAnsiConsole console, HttpMessageHandler? handler, CliSettings settings)
    {
        var id = new Argument<string>("request-id") { Description = "The request id a service gave you (X-Shoppe-Request-Id)." };
        var follow = new Option<bool>("--follow", "-f") { Description = "Keep printing new records until the request finishes." };
        var level = new Option<string?>("--level") { Description = "Only records at or above this level: trace, debug, info, warn, error, fatal." };
        var service = new Option<string?>("--service") { Description = "Only this service's records." };
        var text = new Option<string?>("--grep") { Description = "Only records whose message has all these words." };
        var noDescendants = new Option<bool>("--no-descendants") { Description = "Only the request's own records, not its descendants' (a workflow's jobs, W:0, W:1, ...)." };
        var url = new Option<string?>("--url") { Description = $"The logs service (default: $SHOPPE_LOGS_URL, else the running facility's, else {CliSettings.DefaultLogsUrl})." };
        var token = new Option<string?>("--token") { Description = "Your token (default: $SHOPPE_TOKEN or the saved token)." };

        var command = new Command("logs", "Show a request's logs (a workflow's: its jobs' too).") { id, follow, level, service, text, noDescendants, url, token };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var http = settings.CreateClient(console, handler, parse.GetValue(url), "SHOPPE_LOGS_URL", "logs", CliSettings.DefaultLogsUrl, parse.GetValue(token), Timeout.InfiniteTimeSpan); // a follow lasts as long as the request
            if (http is null)
            {
                return 2;
            }
            var query = new Dictionary<string, string?>
            {
                ["level"] = parse.GetValue(level),
                ["service"] = parse.GetValue(service),
                ["q"] = parse.GetValue(text),
                ["descendants"] = parse.GetValue(noDescendants) ? "false" : null,
            };
            var requestId = parse.GetValue(id)!;
            try
            {
                return parse.GetValue(follow)
                    ? await FollowAsync(console, http, requestId, query, cancellationToken)
                    : await PageAsync(console, http, requestId, query, cancellationToken);
            }
            catch (HttpRequestException ex)
            {
                console.MarkupLineInterpolated($"[red]error:[/] cannot reach the logs service at {http.BaseAddress}: {ex.Message}");
                return 1;
            }
        });
        return command;
    }

    private static async Task<int> PageAsync(IAnsiConsole console, HttpClient http, string requestId, Dictionary<string, string?> query, CancellationToken cancellationToken)
    {
        string? cursor = null;
        do
        {
            query["cursor"] = cursor;
            using var request = new HttpRequestMessage(HttpMethod.Get, LogsUri(requestId, query));
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/x-ndjson"));
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                return await ReportProblemAsync(console, response, cancellationToken);
            }

            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken));
            while (await reader.ReadLineAsync(cancellationToken) is { } line)
            {
                if (line.Length > 0)
                {
                    Print(console, line, requestId);
                }
            }

            cursor = response.Headers.TryGetValues("X-Shoppe-Next-Cursor", out var next) ? next.FirstOrDefault() : null;
        }
        while (cursor is not null);

        return 0;
    }

    private static async Task<int> FollowAsync(IAnsiConsole console, HttpClient http, string requestId, Dictionary<string, string?> query, CancellationToken cancellationToken)
    {
        query["follow"] = "true";
        using var request = new HttpRequestMessage(HttpMethod.Get, LogsUri(requestId, query));
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            return await ReportProblemAsync(console, response, cancellationToken);
        }

        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken));
        var eventName = "message";
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
        {
            if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                eventName = line["event: ".Length..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                if (eventName == "end")
                {
                    console.MarkupLine("[grey]— request finished —[/]");
                    return 0;
                }

                Print(console, line["data: ".Length..], requestId);
            }
            else if (line.Length == 0)
            {
                eventName = "message";
            }
        }

        return 0;
    }

    private static string LogsUri(string requestId, Dictionary<string, string?> query)
    {
        var parts = query.Where(kv => !string.IsNullOrEmpty(kv.Value)).Select(kv => $"{kv.Key}={Uri.EscapeDataString(kv.Value!)}");
        return $"v1/requests/{Uri.EscapeDataString(requestId)}/logs?{string.Join('&', parts)}";
    }

    /// <summary>
    /// One record as a line; a record of a descendant of the request asked for names its request after the service,
    /// by the part after the id asked for (<c>[:5:0]</c> for <c>W:5:0</c> when <c>W</c> was asked for).
    /// </summary>
    private static void Print(IAnsiConsole console, string json, string requestId)
    {
        using var doc = JsonDocument.Parse(json);
        var r = doc.RootElement;
        var time = r.GetProperty("time").GetDateTimeOffset().UtcDateTime;
        var level = r.GetProperty("level").GetString() ?? "info";
        var colour = level switch { "fatal" or "error" => "red", "warn" => "yellow", "debug" or "trace" => "grey", _ => "default" };
        var recordId = r.TryGetProperty("requestId", out var rid) ? rid.GetString() : null;
        var job = recordId is null || recordId == requestId ? ""
            : recordId.StartsWith(requestId + ":", StringComparison.Ordinal) ? $"[{recordId[requestId.Length..]}] "
            : $"[{recordId}] ";
        console.MarkupLineInterpolated(
            $"[grey]{time:HH:mm:ss.fff}[/] [{colour}]{level.ToUpperInvariant(),-5}[/] [blue]{r.GetProperty("service").GetString(),-10}[/] [grey]{job}[/]{r.GetProperty("message").GetString()}");
    }

    private static async Task<int> ReportProblemAsync(IAnsiConsole console, HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        string? title = null, detail = null;
        try
        {
            using var doc = JsonDocument.Parse(body);
            title = doc.RootElement.TryGetProperty("title", out var t) ? t.GetString() : null;
            detail = doc.RootElement.TryGetProperty("detail", out var d) ? d.GetString() : null;
        }
        catch (JsonException)
        {
            // not problem details: the status says enough
        }

        var hint = response.StatusCode switch
        {
            HttpStatusCode.Unauthorized => " (is your token valid for this facility? shoppe token issue --user NAME --save)",
            _ => "",
        };
        console.MarkupLineInterpolated($"[red]error {(int)response.StatusCode}:[/] {title ?? response.ReasonPhrase}{(detail is null ? "" : $": {detail}")}{hint}");
        return 1;
    }
}
