using System.Text;

namespace Shoppe.Logs.Query;

/// <summary>
/// Turns a user's free text into a safe FTS5 query: every word becomes a quoted phrase (quotes
/// doubled), all must match. No FTS5 operator, column filter or syntax error can come from user input.
/// </summary>
public static class TextQuery
{
    /// <summary>The longest text accepted.</summary>
    public const int MaxLength = 256;

    /// <summary>The most words in one query.</summary>
    public const int MaxTerms = 16;

    /// <summary>The FTS5 query for <paramref name="text"/>, null for blank text; false when too long.</summary>
    public static bool TryBuild(string? text, out string? query, out string? error)
    {
        query = null;
        error = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            return true;
        }

        if (text.Length > MaxLength)
        {
            error = $"q may be at most {MaxLength} characters.";
            return false;
        }

        var terms = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (terms.Length > MaxTerms)
        {
            error = $"q may hold at most {MaxTerms} words.";
            return false;
        }

        var sb = new StringBuilder();
        foreach (var term in terms)
        {
            if (sb.Length > 0)
            {
                sb.Append(' ');
            }

            sb.Append('"').Append(term.Replace("\"", "\"\"", StringComparison.Ordinal)).Append('"');
        }

        query = sb.ToString();
        return true;
    }
}
