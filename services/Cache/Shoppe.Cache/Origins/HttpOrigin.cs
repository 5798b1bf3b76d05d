using System.Net;
using System.Net.Http.Headers;

namespace Shoppe.Cache.Origins;

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
