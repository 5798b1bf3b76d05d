using System.Diagnostics.CodeAnalysis;

namespace Shoppe.Security;

/// <summary>
/// The WLCG token profile's storage scopes the facility grants on (the transfer service's storage checks them against
/// each request's path) and their form, <c>NAME:/PATH</c>: <c>storage.read:/data</c> reads /data and everything below
/// it, <c>storage.create:</c> writes new files, <c>storage.modify:</c> creates, changes and deletes.
/// </summary>
public static class WlcgStorageScopes
{
    /// <summary>Reading files and listing folders.</summary>
    public const string Read = "storage.read";

    /// <summary>Writing files that do not exist yet.</summary>
    public const string Create = "storage.create";

    /// <summary>Creating, overwriting and deleting.</summary>
    public const string Modify = "storage.modify";

    /// <summary>Every storage scope name, in the order above.</summary>
    public static IReadOnlyList<string> Names { get; } = [Read, Create, Modify];

    /// <summary>
    /// Turns <paramref name="values"/> (each one scope or several separated by spaces) into the value of a token's
    /// <c>scope</c> claim: the scopes in order, each once, separated by one space; null when there are none. False,
    /// with why, at the first that is not a storage scope with an absolute path.
    /// </summary>
    public static bool TryParse(IEnumerable<string> values, out string? claim, [NotNullWhen(false)] out string? error)
    {
        ArgumentNullException.ThrowIfNull(values);
        claim = null;
        var scopes = new List<string>();
        foreach (var scope in values.SelectMany(v => v.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)))
        {
            if (!TryValidate(scope, out error))
            {
                return false;
            }

            if (!scopes.Contains(scope, StringComparer.Ordinal))
            {
                scopes.Add(scope);
            }
        }

        claim = scopes.Count == 0 ? null : string.Join(' ', scopes);
        error = null;
        return true;
    }

    private static bool TryValidate(string scope, [NotNullWhen(false)] out string? error)
    {
        var colon = scope.IndexOf(':', StringComparison.Ordinal);
        var name = colon < 0 ? scope : scope[..colon];
        if (!Names.Contains(name, StringComparer.Ordinal))
        {
            error = $"'{scope}' is not a storage scope: use {string.Join(", ", Names.Select(n => n + ":/PATH"))}.";
            return false;
        }

        var path = colon < 0 ? "" : scope[(colon + 1)..];
        if (!path.StartsWith('/'))
        {
            error = $"'{scope}' has no absolute path: write {name}:/ for the whole storage, or {name}:/data for /data and below.";
            return false;
        }

        if (path.Split('/').Any(segment => segment is "." or "..") || path.Any(char.IsControl))
        {
            error = $"'{scope}' has a path with . or .. segments or control characters: name the folder itself, e.g. {name}:/data.";
            return false;
        }

        error = null;
        return true;
    }
}
