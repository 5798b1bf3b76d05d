using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Shoppe.Logs.Storage;

namespace Shoppe.Logs.Query;

/// <summary>How records are written for each kind of reader.</summary>
internal static class LogFormats
{
    public const string Json = "application/json";
    public const string NdJson = "application/x-ndjson";
    public const string Text = "text/plain";
    public const string Html = "text/html";
    public const string EventStream = "text/event-stream";

    /// <summary>Picks the format from the Accept header: the first of ours it names, JSON otherwise.</summary>
    public static string Negotiate(string? accept)
    {
        if (string.IsNullOrEmpty(accept))
        {
            return Json;
        }

        foreach (var part in accept.Split(','))
        {
            var media = part.Split(';')[0].Trim().ToLowerInvariant();
            switch (media)
            {
                case NdJson or Text or Html or Json or EventStream: return media;
                case "application/jsonl" or "application/x-jsonlines": return NdJson;
            }
        }

        return Json;
    }

    public static void WriteEntry(Utf8JsonWriter json, LogEntry e)
    {
        json.WriteStartObject();
        json.WriteNumber("id", e.Id);
        json.WriteString("cursor", e.Cursor.ToString());
        json.WriteString("requestId", e.RequestId);
        json.WriteString("time", e.Time.ToString("O", CultureInfo.InvariantCulture));
        json.WriteString("service", e.Service);
        json.WriteString("level", e.Level);
        json.WriteNumber("severity", e.Severity);
        json.WriteString("message", e.Message);
        if (e.AttributesJson is not null)
        {
            json.WritePropertyName("attributes");
            json.WriteRawValue(e.AttributesJson, skipInputValidation: true);
        }

        if (e.TraceId is not null)
        {
            json.WriteString("traceId", e.TraceId);
        }

        if (e.SpanId is not null)
        {
            json.WriteString("spanId", e.SpanId);
        }

        json.WriteEndObject();
    }

    /// <summary>
    /// A readable line: time, level, service, then, for a record of a descendant of <paramref name="requestId"/>, its
    /// id after the one asked for in brackets (<c>[:5:0]</c> for <c>W:5:0</c> when <c>W</c> was asked for), and the message.
    /// </summary>
    public static string TextLine(LogEntry e, string requestId) => RequestTrees.Relative(requestId, e.RequestId) is { } relative
        ? string.Create(CultureInfo.InvariantCulture,
            $"{e.Time.UtcDateTime:yyyy-MM-ddTHH:mm:ss.fffZ} {e.Level.ToUpperInvariant(),-5} {e.Service,-10} [{relative}] {e.Message}")
        : string.Create(CultureInfo.InvariantCulture,
            $"{e.Time.UtcDateTime:yyyy-MM-ddTHH:mm:ss.fffZ} {e.Level.ToUpperInvariant(),-5} {e.Service,-10} {e.Message}");

    public static string HtmlPage(string requestId, LogPage page, string? nextUrl)
    {
        var h = HtmlEncoder.Default;
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Logs of ")
          .Append(h.Encode(requestId))
          .Append("</title><style>body{font:14px/1.4 system-ui,sans-serif;margin:1rem 1.5rem;color:#2b1d14}")
          .Append("table{border-collapse:collapse;width:100%}td,th{padding:.2rem .5rem;border-bottom:1px solid #eee;text-align:left;vertical-align:top}")
          .Append("td.msg{font-family:ui-monospace,monospace;white-space:pre-wrap}td.req{font-family:ui-monospace,monospace;color:#5d4037}.warn{color:#b26a00}.error,.fatal{color:#c62828;font-weight:600}.debug,.trace{color:#888}</style></head><body>")
          .Append("<h1>Logs of request <code>").Append(h.Encode(requestId)).Append("</code></h1>")
          .Append("<table class=\"logs\"><thead><tr><th>time (UTC)</th><th>level</th><th>service</th>");
        // A column of request ids when descendants' records are on the page, so their lines can be told apart.
        var requests = page.Records.Any(e => e.RequestId != requestId);
        if (requests)
        {
            sb.Append("<th>request</th>");
        }

        sb.Append("<th>message</th></tr></thead><tbody>");
        foreach (var e in page.Records)
        {
            sb.Append("<tr class=\"").Append(e.Level).Append("\"><td>")
              .Append(e.Time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss.fff", CultureInfo.InvariantCulture))
              .Append("</td><td class=\"").Append(e.Level).Append("\">").Append(e.Level)
              .Append("</td><td>").Append(h.Encode(e.Service));
            if (requests)
            {
                sb.Append("</td><td class=\"req\" title=\"").Append(h.Encode(e.RequestId)).Append("\">")
                  .Append(h.Encode(RequestTrees.Relative(requestId, e.RequestId) ?? ""));
            }

            sb.Append("</td><td class=\"msg\">").Append(h.Encode(e.Message)).Append("</td></tr>");
        }

        sb.Append("</tbody></table>");
        if (page.Records.Count == 0)
        {
            sb.Append("<p>No records match.</p>");
        }

        if (nextUrl is not null)
        {
            sb.Append("<p><a rel=\"next\" href=\"").Append(h.Encode(nextUrl)).Append("\">next page</a></p>");
        }

        return sb.Append("</body></html>").ToString();
    }
}
