using System.Net;
using System.Net.Http.Headers;

namespace Shoppe.Cache;

/// <summary>What an origin says about a file: enough to tell whether cached blocks are still its bytes.</summary>
public sealed record OriginFile(long Length, string? ETag, DateTimeOffset? LastModified)
{
    /// <summary>The ETag as an entity tag (null when the origin's is not a valid one), parsed once per file, not per read.</summary>
    public Microsoft.Net.Http.Headers.EntityTagHeaderValue? EntityTag { get; } =
        Microsoft.Net.Http.Headers.EntityTagHeaderValue.TryParse(ETag, out var tag) ? tag : null;

    /// <summary>Last-Modified as the header carries it, formatted once.</summary>
    public string? LastModifiedHeader { get; } = LastModified is { } m ? Microsoft.Net.Http.Headers.HeaderUtilities.FormatDate(m) : null;

    /// <summary>Whether cached blocks made from <paramref name="other"/> are still this file's bytes.</summary>
    public bool SameContentAs(OriginFile other) =>
        Length == other.Length && ETag == other.ETag && LastModified == other.LastModified;
}

/// <summary>The origin could not be reached or failed mid-read (502 to the client).</summary>
public sealed class OriginUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The origin's file changed since it was validated: the fetched bytes would mix two versions.</summary>
public sealed class OriginContentChangedException(string message) : Exception(message);

/// <summary>Where a file's bytes come from.</summary>
public interface IOrigin
{
    /// <summary>The origin's name (stats, logs).</summary>
    string Name { get; }

    /// <summary>The file's length and validators, or null when the origin has no such file.</summary>
    /// <exception cref="OriginUnavailableException">The origin could not answer.</exception>
    Task<OriginFile?> StatAsync(string relativePath, CancellationToken cancellationToken);

    /// <summary>
    /// A stream of exactly <paramref name="length"/> bytes from <paramref name="offset"/> (fewer means the origin
    /// failed), of the version of the file described by <paramref name="expected"/>.
    /// </summary>
    /// <exception cref="OriginUnavailableException">The origin could not answer.</exception>
    /// <exception cref="OriginContentChangedException">The file is no longer the version the blocks were made from.</exception>
    Task<Stream> OpenRangeAsync(string relativePath, long offset, long length, OriginFile expected, CancellationToken cancellationToken);
}

/// <summary>
/// An HTTP(S) origin read with explicit closed ranges (<c>bytes=a-b</c>): XRootD's HTTP server ignores suffix
/// ranges and answers open ones without data, so the cache never sends either. The cache's own bearer token,
/// if configured, is the only credential sent; the user's never is.
/// </summary>
public sealed class HttpOrigin(OriginOptions options, HttpClient client, TimeSpan timeout) : IOrigin
{
    private readonly Uri _base = new(options.Url!.TrimEnd('/') + "/");

    /// <inheritdoc />
    public string Name => options.Name;

    private Uri UriOf(string relativePath) =>
        new(_base, string.Join('/', relativePath.TrimStart('/').Split('/').Select(Uri.EscapeDataString)));

    private HttpRequestMessage Request(HttpMethod method, string relativePath)
    {
        var request = new HttpRequestMessage(method, UriOf(relativePath));
        if (!string.IsNullOrEmpty(options.BearerToken))
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", options.BearerToken);
        }

        return request;
    }

    /// <summary>The failure to report when the origin did not answer (or not within the timeout).</summary>
    private OriginUnavailableException DidNotAnswer(Exception ex) =>
        new($"Origin {Name} did not answer: {(ex is OperationCanceledException ? $"nothing within {timeout.TotalSeconds:0} s" : ex.Message)}", ex);

    /// <inheritdoc />
    public async Task<OriginFile?> StatAsync(string relativePath, CancellationToken cancellationToken)
    {
        using var request = Request(HttpMethod.Head, relativePath);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        HttpResponseMessage response;
        try
        {
            response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, deadline.Token);
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            throw DidNotAnswer(ex);
        }

        using (response)
        {
            if (response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.Gone)
            {
                return null;
            }

            if (!response.IsSuccessStatusCode || response.Content.Headers.ContentLength is not { } length)
            {
                throw new OriginUnavailableException($"Origin {Name} answered HEAD with {(int)response.StatusCode}{(response.IsSuccessStatusCode ? " and no length" : "")}.");
            }

            return new OriginFile(length, response.Headers.ETag?.ToString(), response.Content.Headers.LastModified);
        }
    }

    /// <inheritdoc />
    public async Task<Stream> OpenRangeAsync(string relativePath, long offset, long length, OriginFile expected, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(expected);
        var request = Request(HttpMethod.Get, relativePath);
        request.Headers.Range = new RangeHeaderValue(offset, offset + length - 1);
        // Only the version the cached blocks were made from (a strong tag can be matched; a weak one is compared below).
        if (expected.EntityTag is { IsWeak: false } strong)
        {
            request.Headers.TryAddWithoutValidation("If-Match", strong.ToString());
        }

        HttpResponseMessage? response = null;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, deadline.Token);
            if (response.StatusCode == HttpStatusCode.PreconditionFailed
                || (response.Headers.ETag is { } tag && expected.ETag is not null && tag.ToString() != expected.ETag)
                || (response.Content.Headers.LastModified is { } modified && expected.LastModified is { } known && modified != known))
            {
                throw new OriginContentChangedException($"{relativePath} changed at origin {Name} since it was validated.");
            }

            // A 206 must be the range asked for; a 200 is the whole file, only usable for a range from zero.
            var range = response.Content.Headers.ContentRange;
            if ((response.StatusCode == HttpStatusCode.PartialContent && range?.From == offset && (range.Length is null || range.Length == expected.Length))
                || (response.StatusCode == HttpStatusCode.OK && offset == 0 && (response.Content.Headers.ContentLength ?? expected.Length) == expected.Length))
            {
                return new ResponseStream(await response.Content.ReadAsStreamAsync(cancellationToken), response, request);
            }

            throw new OriginUnavailableException($"Origin {Name} answered a range request with {(int)response.StatusCode}.");
        }
        catch (Exception ex)
        {
            response?.Dispose();
            request.Dispose();
            if (ex is OriginContentChangedException)
            {
                throw;
            }

            if (ex is HttpRequestException or IOException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                throw DidNotAnswer(ex);
            }

            throw;
        }
    }

    /// <summary>The body of a response, disposing the response with it.</summary>
    private sealed class ResponseStream(Stream inner, HttpResponseMessage response, HttpRequestMessage request) : Stream
    {
        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.ReadAsync(buffer, offset, count, cancellationToken);

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
                response.Dispose();
                request.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}

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

/// <summary>Which origin serves a path: the one with the longest matching prefix.</summary>
public sealed class OriginRouter
{
    private readonly List<(string Prefix, IOrigin Origin)> _routes;

    /// <summary>Routes over the given origins.</summary>
    public OriginRouter(IEnumerable<(string Prefix, IOrigin Origin)> routes) =>
        _routes = routes.Select(r => (OriginOptions.NormalizePrefix(r.Prefix), r.Origin)).OrderByDescending(r => r.Item1.Length).ToList();

    /// <summary>The origins.</summary>
    public IEnumerable<IOrigin> Origins => _routes.Select(r => r.Origin);

    /// <summary>The origin serving <paramref name="path"/> and the path relative to it, or null.</summary>
    public (IOrigin Origin, string RelativePath)? Resolve(CachePath path)
    {
        foreach (var (prefix, origin) in _routes)
        {
            if (prefix == "/")
            {
                return (origin, path.Value);
            }

            if (path.Value.StartsWith(prefix + "/", StringComparison.Ordinal))
            {
                return (origin, path.Value[prefix.Length..]);
            }
        }

        return null;
    }
}
