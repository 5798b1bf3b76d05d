using System.Text;

namespace Shoppe.Workflow.Documents;

/// <summary>
/// <c>${…}</c> references in a work's strings: parameters, a job's args and files, earlier works' outputs. A value
/// with several parts (<c>${files}</c>, a work's outputs over its jobs) is joined with spaces inside a string, and
/// becomes as many arguments where an argv element is the reference alone. <c>$${</c> writes a literal <c>${</c>.
/// </summary>
internal static class Template
{
    /// <summary>The references in <paramref name="text"/>; an unclosed one is refused naming <paramref name="where"/>.</summary>
    public static IEnumerable<string> References(string text, string where)
    {
        var found = new List<string>();
        Walk(text, where, found.Add, _ => { });
        return found;
    }

    /// <summary>Whether <paramref name="text"/> is one reference and nothing else.</summary>
    public static string? Whole(string text) =>
        text.StartsWith("${", StringComparison.Ordinal) && text.EndsWith('}') && text.IndexOf('}', StringComparison.Ordinal) == text.Length - 1 ? text[2..^1] : null;

    /// <summary>Expands every reference through <paramref name="resolve"/>.</summary>
    public static string Expand(string text, Func<string, IReadOnlyList<string>> resolve)
    {
        if (!text.Contains('$', StringComparison.Ordinal))
        {
            return text;
        }

        var result = new StringBuilder(text.Length);
        Walk(text, "", reference => result.AppendJoin(' ', resolve(reference)), literal => result.Append(literal));
        return result.ToString();
    }

    /// <summary>An argv: an element that is one reference alone becomes one argument per value.</summary>
    public static List<string> ExpandArgv(IEnumerable<string> argv, Func<string, IReadOnlyList<string>> resolve)
    {
        var result = new List<string>();
        foreach (var argument in argv)
        {
            if (Whole(argument) is { } reference)
            {
                result.AddRange(resolve(reference));
            }
            else
            {
                result.Add(Expand(argument, resolve));
            }
        }

        return result;
    }

    private static void Walk(string text, string where, Action<string> onReference, Action<string> onLiteral)
    {
        var i = 0;
        while (i < text.Length)
        {
            var start = text.IndexOf('$', i);
            if (start < 0 || start == text.Length - 1)
            {
                onLiteral(text[i..]);
                return;
            }

            onLiteral(text[i..start]);
            if (text[start + 1] == '$' && start + 2 < text.Length && text[start + 2] == '{')
            {
                onLiteral("${");
                i = start + 3;
                continue;
            }

            if (text[start + 1] != '{')
            {
                onLiteral("$");
                i = start + 1;
                continue;
            }

            var end = text.IndexOf('}', start + 2);
            if (end < 0)
            {
                throw new WorkflowDocumentException(where, $"'{text}' has a '${{' without its '}}'.");
            }

            onReference(text[(start + 2)..end].Trim());
            i = end + 1;
        }
    }
}
