namespace Shoppe.Cache.Origins;

/// <summary>A local folder as an origin. Paths are resolved under its root, symbolic links included.</summary>
public sealed class DirectoryOrigin(OriginOptions options) : IOrigin
{
    private readonly string _root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(options.Directory!));

    /// <inheritdoc />
    public string Name => options.Name;

    /// <summary>
    /// The file under the root, or null when the path leads outside it: every component is resolved as the
    /// kernel would (a link anywhere on the path, a directory link included, is followed), and the real path
    /// must lie under the root's real path.
    /// </summary>
    private FileInfo? Resolve(string relativePath)
    {
        var full = Path.GetFullPath(Path.Join(_root, relativePath));
        if (!full.StartsWith(_root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            return null;
        }

        var real = RealPath(full);
        var realRoot = RealPath(_root);
        return real is not null && realRoot is not null && real.StartsWith(realRoot + Path.DirectorySeparatorChar, StringComparison.Ordinal)
            ? new FileInfo(real)
            : null;
    }

    /// <summary>The path with every link on it followed (null for a loop or a dangling link).</summary>
    private static string? RealPath(string path)
    {
        var current = Path.GetPathRoot(path)!;
        var pending = new Stack<string>(path[current.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries).Reverse());
        for (var hops = 0; pending.Count > 0;)
        {
            var segment = pending.Pop();
            if (segment == "..")
            {
                current = Path.GetDirectoryName(current) ?? current;
                continue;
            }

            var next = Path.Join(current, segment);
            var link = new FileInfo(next).LinkTarget;
            if (link is null)
            {
                current = next;
                continue;
            }

            if (++hops > 40)
            {
                return null;
            }

            // A link's target replaces it: its components are walked in turn (links within it included).
            current = Path.IsPathRooted(link) ? Path.GetPathRoot(link)! : current;
            foreach (var part in link[(Path.IsPathRooted(link) ? Path.GetPathRoot(link)!.Length : 0)..]
                         .Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries).Reverse())
            {
                pending.Push(part);
            }
        }

        return Path.TrimEndingDirectorySeparator(current);
    }

    /// <inheritdoc />
    public Task<OriginFile?> StatAsync(string relativePath, CancellationToken cancellationToken)
    {
        var file = Resolve(relativePath);
        if (file is null || !file.Exists)
        {
            return Task.FromResult<OriginFile?>(null);
        }

        var modified = new DateTimeOffset(file.LastWriteTimeUtc.Ticks / TimeSpan.TicksPerSecond * TimeSpan.TicksPerSecond, TimeSpan.Zero);
        var etag = $"\"{file.Length:x}-{file.LastWriteTimeUtc.Ticks:x}\"";
        return Task.FromResult<OriginFile?>(new OriginFile(file.Length, etag, modified));
    }

    /// <inheritdoc />
    public async Task<Stream> OpenRangeAsync(string relativePath, long offset, long length, OriginFile expected, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(expected);
        if (await StatAsync(relativePath, cancellationToken) is not { } now || !now.SameContentAs(expected))
        {
            throw new OriginContentChangedException($"{relativePath} changed at origin {Name} since it was validated.");
        }

        var file = Resolve(relativePath) ?? throw new OriginUnavailableException($"Origin {Name} has no such file.");
        try
        {
            var stream = new FileStream(file.FullName, new FileStreamOptions { Mode = FileMode.Open, Access = FileAccess.Read, Share = FileShare.ReadWrite | FileShare.Delete, BufferSize = 0, Options = FileOptions.Asynchronous });
            try
            {
                stream.Seek(offset, SeekOrigin.Begin);
            }
            catch
            {
                stream.Dispose();
                throw;
            }

            return stream;
        }
        catch (IOException ex)
        {
            throw new OriginUnavailableException($"Origin {Name} could not open the file: {ex.Message}", ex);
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new OriginUnavailableException($"Origin {Name} could not open the file: {ex.Message}", ex);
        }
    }
}
