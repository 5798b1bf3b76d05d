using System.Globalization;

namespace Shoppe.Transfer.Tpc;

/// <summary>One performance marker of a third-party copy, as XRootD and this service send them.</summary>
public sealed record PerfMarker(DateTimeOffset Timestamp, int StripeIndex, long BytesTransferred, int StripeCount, string? RemoteConnections);

/// <summary>How a third-party copy ended: its last line.</summary>
public sealed record CopyOutcome(bool Success, string Message, IReadOnlyList<PerfMarker> Markers);

/// <summary>
/// Reads the streamed body of a COPY (WLCG HTTP-TPC): blocks from <c>Perf Marker</c> to <c>End</c>, then a last line
/// <c>success: ...</c> or <c>failure: ...</c>. Lenient as clients must be: CR/LF or LF, unknown keys ignored, the last
/// line with or without its newline (XRootD sends none).
/// </summary>
public static class PerfMarkers
{
    /// <summary>Reads markers as they arrive, calling <paramref name="onMarker"/> for each; returns the outcome.</summary>
    public static async Task<CopyOutcome> ReadAsync(Stream body, Action<PerfMarker>? onMarker, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(body);
        // A marker stream is a few hundred bytes a marker: a remote that sends far more is cut off, not buffered.
        using var reader = new StreamReader(new Shoppe.Http.ReadLimitStream(body, MaxBodyBytes));
        var markers = new List<PerfMarker>();
        Dictionary<string, string>? fields = null;
        while (await reader.ReadLineAsync(cancellationToken) is { } raw)
        {
            var line = raw.Trim();
            if (line.Length == 0)
            {
                continue;
            }

            if (line == "Perf Marker")
            {
                fields = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
                continue;
            }

            if (line == "End" && fields is not null)
            {
                var seconds = Number(fields, "Timestamp");
                var marker = new PerfMarker(
                    DateTimeOffset.FromUnixTimeSeconds(seconds <= 253_402_300_799 ? seconds : 0),
                    (int)Math.Min(int.MaxValue, Number(fields, "Stripe Index")),
                    Number(fields, "Stripe Bytes Transferred"),
                    (int)Math.Min(int.MaxValue, Number(fields, "Total Stripe Count")),
                    fields.GetValueOrDefault("RemoteConnections"));
                markers.Add(marker);
                onMarker?.Invoke(marker);
                fields = null;
                continue;
            }

            if (fields is not null)
            {
                var colon = line.IndexOf(':', StringComparison.Ordinal);
                if (colon > 0)
                {
                    fields[line[..colon].Trim()] = line[(colon + 1)..].Trim();
                }

                continue;
            }

            if (line.StartsWith("success:", StringComparison.OrdinalIgnoreCase))
            {
                return new CopyOutcome(true, line["success:".Length..].Trim(), markers);
            }

            if (line.StartsWith("failure:", StringComparison.OrdinalIgnoreCase))
            {
                return new CopyOutcome(false, line["failure:".Length..].Trim(), markers);
            }
        }

        return new CopyOutcome(false, "the copy's answer ended without a success or failure line", markers);
    }

    /// <summary>Most bytes read from one copy's answer (a marker a second for days fits).</summary>
    public const long MaxBodyBytes = 64L << 20;

    private static long Number(Dictionary<string, string> fields, string key) =>
        fields.TryGetValue(key, out var text) && long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value >= 0 ? value : 0;
}
