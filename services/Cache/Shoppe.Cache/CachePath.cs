namespace Shoppe.Cache;

/// <summary>
/// A file's path in the cache's namespace, checked once at the edge: absolute, '/'-separated, no empty,
/// <c>.</c> or <c>..</c> segments, no backslashes, control characters or encoded separators. Nothing built from
/// it can leave an origin's namespace or the cache folder (cached files are stored under a hash of it anyway).
/// </summary>
public readonly record struct CachePath
{
    private CachePath(string value) => Value = value;

    /// <summary>The path, always beginning with '/'.</summary>
    public string Value { get; }

    /// <summary>The longest path accepted.</summary>
    public const int MaxLength = 4096;

    /// <inheritdoc />
    public override string ToString() => Value;

    /// <summary>
    /// Checks a request path. <paramref name="rawTarget"/> is the path as the client sent it (before decoding),
    /// where an encoded '/', '\' or NUL is refused: decoded, it would change which segments the path has.
    /// </summary>
    public static bool TryParse(string? decoded, out CachePath path, out string error, string? rawTarget = null)
    {
        path = default;
        if (string.IsNullOrEmpty(decoded) || decoded[0] != '/' || decoded.Length == 1)
        {
            error = "The path must name a file.";
            return false;
        }

        if (decoded.Length > MaxLength)
        {
            error = $"The path is longer than {MaxLength} characters.";
            return false;
        }

        if (rawTarget is not null)
        {
            var rawPath = rawTarget.AsSpan();
            var query = rawPath.IndexOf('?');
            rawPath = query >= 0 ? rawPath[..query] : rawPath;
            // Only a '%' can start an encoded separator, dot or NUL: most paths have none to look at.
            if (rawPath.Contains('%')
                && (rawPath.Contains("%2f", StringComparison.OrdinalIgnoreCase) || rawPath.Contains("%5c", StringComparison.OrdinalIgnoreCase)
                    || rawPath.Contains("%00", StringComparison.Ordinal) || rawPath.Contains("%2e", StringComparison.OrdinalIgnoreCase)))
            {
                error = "The path may not contain encoded separators, dots or NUL.";
                return false;
            }
        }

        foreach (var c in decoded)
        {
            if (char.IsControl(c) || c == '\\')
            {
                error = "The path may not contain control characters or backslashes.";
                return false;
            }
        }

        foreach (var range in decoded.AsSpan(1).Split('/'))
        {
            var segment = decoded.AsSpan(1)[range];
            if (segment.Length == 0 || segment is "." or "..")
            {
                error = "The path may not contain empty, '.' or '..' segments.";
                return false;
            }
        }

        path = new CachePath(decoded);
        error = "";
        return true;
    }
}
