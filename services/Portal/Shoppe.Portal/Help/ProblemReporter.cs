using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Shoppe.Portal.Requests;

namespace Shoppe.Portal.Help;

/// <summary>Why a report was not taken: the words, or a request the user cannot see.</summary>
public sealed class ReportRefusedException(int status, string title, string detail) : Exception(detail)
{
    public int Status { get; } = status;

    public string Title { get; } = title;
}

/// <summary>
/// Takes a user's report of a problem with one of their requests: reads the request's state and last log lines with
/// the user's own token, keeps the report, then files it as an issue where the site configured a repository.
/// </summary>
public sealed partial class ProblemReporter(
    FacilityClient facility, ProblemReports store, GitHubIssues github, IOptions<HelpOptions> options, TimeProvider time, ILogger<ProblemReporter> logger)
{
    /// <summary>Keeps and files a report; the report comes back with where it was filed or why it was not.</summary>
    /// <exception cref="ReportRefusedException">Empty or too long words, or no such request for this user.</exception>
    public async Task<ProblemReport> ReportAsync(string user, string token, string kind, string requestId, string? words, Uri? requestPage, CancellationToken cancellationToken)
    {
        words = words?.Replace("\r\n", "\n", StringComparison.Ordinal).Trim() ?? "";
        if (words.Length == 0)
        {
            throw new ReportRefusedException(StatusCodes.Status400BadRequest, "Empty report", "Say what went wrong: the report has no words.");
        }

        if (words.Length > options.Value.MaxWords)
        {
            throw new ReportRefusedException(StatusCodes.Status400BadRequest, "Report too long",
                $"A report may have up to {options.Value.MaxWords} characters ({words.Length} given); the request's logs go with it anyway.");
        }

        using (var status = await facility.GetVisibleAsync(kind, requestId, token, cancellationToken))
        {
            if (status is null)
            {
                throw new ReportRefusedException(StatusCodes.Status404NotFound, "No such request", $"You have no {kind} {requestId} to report on.");
            }

            var attachment = await AttachmentAsync(kind, requestId, status.RootElement, token, cancellationToken);
            var report = store.Add(time.GetUtcNow(), user, kind, requestId, words, attachment);
            LogReported(logger, report.Id, user, kind, requestId);
            return github.Enabled ? await FileAsync(report, requestPage) : report;
        }
    }

    private async Task<ProblemReport> FileAsync(ProblemReport report, Uri? requestPage)
    {
        try
        {
            var url = await github.FileAsync(report, requestPage).WaitAsync(options.Value.GitHub.Timeout);
            store.SetFiled(report.Id, url, null);
            return report with { IssueUrl = url };
        }
        catch (Exception ex) when (ex is Octokit.ApiException or HttpRequestException or TimeoutException or InvalidOperationException or IOException)
        {
            var problem = ex switch
            {
                TimeoutException => $"GitHub did not answer within {options.Value.GitHub.Timeout.TotalSeconds:0} s.",
                Octokit.ApiException api => $"GitHub answered {(int)api.StatusCode}: {Shorten(api.HttpResponse?.Body as string ?? api.Message)}",
                _ => ex.Message,
            };
            store.SetFiled(report.Id, null, problem);
            LogNotFiled(logger, report.Id, problem);
            return report with { FilingProblem = problem };
        }
    }

    /// <summary>The request's state and counts, its first error and its last log lines, as text.</summary>
    private async Task<string> AttachmentAsync(string kind, string requestId, JsonElement status, string token, CancellationToken cancellationToken)
    {
        var text = new StringBuilder();
        var row = RequestRow.From(kind, status);
        text.Append(CultureInfo.InvariantCulture, $"{kind} {requestId}: {row.State}, {row.Progress}; submitted {row.Submitted:O}");
        if (row.Finished is { } finished)
        {
            text.Append(CultureInfo.InvariantCulture, $", ended {finished:O}");
        }

        text.Append('\n');
        try
        {
            using var summary = await facility.GetJsonAsync("logs", $"v1/requests/{Uri.EscapeDataString(requestId)}/summary", token, cancellationToken);
            var s = summary.RootElement;
            text.Append(CultureInfo.InvariantCulture, $"logs: {s.GetProperty("total").GetRawText()} lines, by level {s.GetProperty("byLevel").GetRawText()}\n");
            if (s.TryGetProperty("firstError", out var error) && error.ValueKind == JsonValueKind.Object)
            {
                text.Append(CultureInfo.InvariantCulture, $"first error: {Line(error)}\n");
            }

            var lines = await LastLinesAsync(requestId, s.GetProperty("lastSeen").GetDateTimeOffset(), token, cancellationToken);
            text.Append(CultureInfo.InvariantCulture, $"last {lines.Count} lines:\n");
            foreach (var line in lines)
            {
                text.Append(line).Append('\n');
            }
        }
        catch (ServiceCallException ex)
        {
            text.Append(CultureInfo.InvariantCulture, $"logs: none to attach ({ex.Detail})\n");
        }
        catch (HttpRequestException ex)
        {
            text.Append(CultureInfo.InvariantCulture, $"logs: the logs service could not be reached ({ex.Message})\n");
        }

        return text.ToString();
    }

    /// <summary>
    /// The last lines before the request's last record: read forward from a minute before it, a bounded number of pages
    /// (a request logging more than that in its last minute gets the last lines of the pages read, and says so).
    /// </summary>
    private async Task<List<string>> LastLinesAsync(string requestId, DateTimeOffset lastSeen, string token, CancellationToken cancellationToken)
    {
        const int PageSize = 1_000, Pages = 10;
        var keep = options.Value.LastLines;
        var lines = new Queue<string>(keep + 1);
        var since = Uri.EscapeDataString(lastSeen.AddMinutes(-1).ToString("O", CultureInfo.InvariantCulture));
        string? cursor = null;
        for (var page = 0; page < Pages && keep > 0; page++)
        {
            var path = $"v1/requests/{Uri.EscapeDataString(requestId)}/logs?limit={PageSize}&since={since}" + (cursor is null ? "" : $"&cursor={Uri.EscapeDataString(cursor)}");
            using var logs = await facility.GetJsonAsync("logs", path, token, cancellationToken);
            foreach (var record in logs.RootElement.GetProperty("records").EnumerateArray())
            {
                lines.Enqueue(Line(record));
                if (lines.Count > keep)
                {
                    lines.Dequeue();
                }
            }

            cursor = logs.RootElement.TryGetProperty("nextCursor", out var next) && next.ValueKind == JsonValueKind.String ? next.GetString() : null;
            if (cursor is null)
            {
                return [.. lines];
            }
        }

        return [.. lines, $"(more than {PageSize * Pages} lines in the request's last minute: these are not its very last)"];
    }

    private static string Shorten(string text) => text.Length <= 300 ? text : text[..300] + "…";

    private static string Line(JsonElement record) =>
        $"{record.GetProperty("time").GetString()} {record.GetProperty("level").GetString()} {record.GetProperty("service").GetString()}: {record.GetProperty("message").GetString()}";

    [LoggerMessage(1, LogLevel.Information, "Problem report {Report} by {User} about {Kind} {RequestId}")]
    private static partial void LogReported(ILogger logger, long report, string user, string kind, string requestId);

    [LoggerMessage(2, LogLevel.Warning, "Problem report {Report} kept but not filed on GitHub: {Problem}")]
    private static partial void LogNotFiled(ILogger logger, long report, string problem);
}
