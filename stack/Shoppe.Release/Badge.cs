using System.Globalization;
using System.Security;

namespace Shoppe.Release;

/// <summary>
/// A certification badge as SVG: "Coffea Shoppe 0.1.0 | certified" (green) or "| failed" (red) on top, the date
/// and the hardware profile beneath.
/// </summary>
public static class Badge
{
    /// <summary>Renders the badge.</summary>
    /// <param name="subject">The left text: "Coffea Shoppe 0.1.0" or a site's name and the release it runs.</param>
    /// <param name="certified">Whether the run certified.</param>
    /// <param name="at">When it ran.</param>
    /// <param name="profile">The hardware it ran on, one line.</param>
    /// <param name="detail">The counts, e.g. "42 passed, 0 failed, 2 n/a".</param>
    public static string Render(string subject, bool certified, DateTimeOffset at, string profile, string detail)
    {
        var state = certified ? "certified" : "failed";
        var color = certified ? "#2e7d32" : "#c62828";
        var footer = $"{at.UtcDateTime.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)} · {profile} · {detail}";
        var left = Width(subject);
        var right = Width(state);
        var width = Math.Max(left + right, Width(footer, 6.0));
        right = width - left;
        string X(string s) => SecurityElement.Escape(s);
        string N(double v) => v.ToString("F0", CultureInfo.InvariantCulture);
        return $"""
            <svg xmlns="http://www.w3.org/2000/svg" width="{N(width)}" height="36" role="img" aria-label="{X(subject)}: {state}">
              <title>{X(subject)}: {state} ({X(footer)})</title>
              <rect width="{N(left)}" height="20" fill="#4e342e"/>
              <rect x="{N(left)}" width="{N(right)}" height="20" fill="{color}"/>
              <rect y="20" width="{N(width)}" height="16" fill="#efebe9"/>
              <g fill="#fff" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11">
                <text x="{N(left / 2)}" y="14" text-anchor="middle">{X(subject)}</text>
                <text x="{N(left + (right / 2))}" y="14" text-anchor="middle">{state}</text>
              </g>
              <text x="{N(width / 2)}" y="31" text-anchor="middle" fill="#3e2723" font-family="Verdana,DejaVu Sans,sans-serif" font-size="9">{X(footer)}</text>
            </svg>

            """;
    }

    private static double Width(string text, double perChar = 7.0) => Math.Ceiling((text.Length * perChar) + 16);
}
