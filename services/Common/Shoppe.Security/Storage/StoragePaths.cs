namespace Shoppe.Security.Storage;

/// <summary>
/// Maps request paths onto a storage root (transfer's WebDAV, pushdown's datasets), refusing anything that could leave it: <c>..</c> and <c>.</c>
/// segments, encoded slashes or NULs, and symbolic links anywhere on the way.
/// </summary>
public sealed class StoragePaths(string root)
{
    public string Root { get; } = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));

    /// <summary>The local path for a decoded request path (<c>/a/b.root</c>), or null when it is not a plain path under the root.</summary>
    public string? Resolve(string requestPath)
    {
        if (string.IsNullOrEmpty(requestPath) || requestPath[0] != '/' || requestPath.Length > 4096 || requestPath.Contains('\0', StringComparison.Ordinal) || requestPath.Contains('\\', StringComparison.Ordinal))
        {
            return null;
        }

        var segments = requestPath.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (segments.Any(s => s is "." or ".."))
        {
            return null;
        }

        var full = segments.Length == 0 ? Root : Path.Combine(Root, Path.Combine(segments));
        // Every existing component must be a real directory or file, not a link that could point elsewhere.
        var current = Root;
        foreach (var segment in segments)
        {
            current = Path.Combine(current, segment);
            var info = new FileInfo(current);
            if (info.Exists || Directory.Exists(current))
            {
                if (info.LinkTarget is not null || new DirectoryInfo(current).LinkTarget is not null)
                {
                    return null;
                }
            }
            else
            {
                break;
            }
        }

        return full;
    }

    /// <summary>The request path of a local path under the root (for PROPFIND hrefs).</summary>
    public string ToRequestPath(string local) => Path.GetRelativePath(Root, local) is var relative && relative == "."
        ? "/"
        : "/" + relative.Replace(Path.DirectorySeparatorChar, '/');
}
