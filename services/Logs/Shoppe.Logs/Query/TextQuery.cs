namespace Shoppe.Logs.Query;

/// <summary>
/// A user's free text as the words that must all appear in a message. Each store turns the words into its
/// own query safely (SQLite: quoted FTS5 phrases; Elasticsearch: a match with operator and), so no operator,
/// field filter or syntax error can come from user input.
/// </summary>
public static class TextQuery
{
    /// <summary>The longest text accepted.</summary>
    public const int MaxLength = 256;

    /// <summary>The most words in one query.</summary>
    public const int MaxTerms = 16;

    /// <summary>The words of <paramref name="text"/>, null for blank text; false (with why) when too long.</summary>
    public static bool TryParse(string? text, out IReadOnlyList<string>? words, out string? error)
    {
        words = null;
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

        words = terms;
        return true;
    }
}
