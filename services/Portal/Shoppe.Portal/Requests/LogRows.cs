using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Unicode;

namespace Shoppe.Portal.Requests;

/// <summary>
/// A page of log records as the log table's rows, written in one pass: 500 rows as components (four cells, a time
/// element, attributes) cost the portal more than the logs service's query behind them. The same cells live.js appends.
/// </summary>
public static class LogRows
{
    private static readonly HtmlEncoder Encoder = HtmlEncoder.Create(UnicodeRanges.All);

    /// <summary>The rows of <paramref name="records"/> (the logs API's <c>records</c>), how many, and the last one's cursor.</summary>
    public static (string Html, int Count, string? LastCursor) Write(JsonElement records)
    {
        using var html = new StringWriter(new System.Text.StringBuilder(records.GetArrayLength() * 240), System.Globalization.CultureInfo.InvariantCulture);
        var count = 0;
        string? last = null;
        foreach (var record in records.EnumerateArray())
        {
            var time = Text(record, "time");
            var level = Text(record, "level");
            html.Write("<tr class=\"");
            Encoder.Encode(html, level);
            html.Write("\"><td><time datetime=\"");
            Encoder.Encode(html, time);
            html.Write("\">");
            Encoder.Encode(html, time.Length >= 23 ? time[11..23] : time); // the time of day to the millisecond; the date is in datetime
            html.Write("</time></td><td>");
            Encoder.Encode(html, level);
            html.Write("</td><td>");
            Encoder.Encode(html, Text(record, "service"));
            // The first line carries an Element Timing mark: when it is painted is the page's figure that matters.
            html.Write(count == 0 ? "</td><td class=\"message\" elementtiming=\"first-line\">" : "</td><td class=\"message\">");
            Encoder.Encode(html, Text(record, "message"));
            html.Write("</td></tr>\n");
            last = record.TryGetProperty("cursor", out var cursor) ? cursor.GetString() : last;
            count++;
        }

        return (html.ToString(), count, last);
    }

    private static string Text(JsonElement record, string name) =>
        record.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() ?? "" : "";
}
