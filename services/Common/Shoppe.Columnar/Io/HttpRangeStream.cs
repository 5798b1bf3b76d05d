using System.Net;
using System.Net.Http.Headers;

namespace Shoppe.Columnar.Io;

/// <summary>
/// A read-only, seekable view of a remote file over HTTP range requests, for Parquet readers that seek to the footer
/// and then to the column chunks they need. Reads go out in windows of at least <see cref="WindowSize"/> bytes, so
/// a run of small reads costs one request; a chunk larger than the window is fetched in one range.
/// The file's ETag (or size) is checked on every range so a file changed mid-read fails instead of mixing versions.
/// </summary>
public sealed class HttpRangeStream : Stream
{
    /// <summary>
    /// Smallest range requested. Parquet readers make a few small reads (the footer's length, page headers) between
    /// large ones (a column chunk, read whole); 64 KiB covers the small ones without fetching much a query skips.
    /// </summary>
    public const int WindowSize = 64 << 10;

    private readonly HttpClient _http;
    private readonly Uri _uri;
    private readonly string? _etag;
    private readonly AuthenticationHeaderValue? _authorization;
    private byte[] _window = [];
    private long _windowStart = -1;
    private long _position;

    private HttpRangeStream(HttpClient http, Uri uri, AuthenticationHeaderValue? authorization, long length, string? etag)
    {
        _authorization = authorization;
        _http = http;
        _uri = uri;
        Length = length;
        _etag = etag;
    }

    /// <summary>Asks for the file's size (HEAD) and opens it.</summary>
    /// <exception cref="ColumnarInputException">The file is missing, not readable, or the server does not serve ranges.</exception>
    public static async Task<HttpRangeStream> OpenAsync(HttpClient http, Uri uri, AuthenticationHeaderValue? authorization, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(uri);
        using var request = new HttpRequestMessage(HttpMethod.Head, uri);
        request.Headers.Authorization = authorization;
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, cancellationToken);
        }
        catch (HttpRequestException ex)
        {
            throw new ColumnarInputException($"{uri} could not be reached: {ex.Message}", ex);
        }
        catch (TaskCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ColumnarInputException($"{uri} did not answer in time", new TimeoutException(ex.Message, ex));
        }

        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                throw new ColumnarInputException($"{uri} answered {(int)response.StatusCode} {response.ReasonPhrase}", response.StatusCode);
            }

            var length = response.Content.Headers.ContentLength
                ?? throw new ColumnarInputException($"{uri} did not say how long it is (no Content-Length)");
            // A weak ETag cannot go in If-Range (RFC 9110 13.1.5): such a file is read without it (its size still checked).
            var etag = response.Headers.ETag is { IsWeak: false } strong ? strong.Tag : null;
            return new HttpRangeStream(http, uri, authorization, length, etag);
        }
    }

    /// <summary>
    /// The last read's failure. A native Parquet reader reports a stream's exception as its own error text; the
    /// caller finds the real cause (and whether it may pass) here.
    /// </summary>
    public ColumnarInputException? Failure { get; private set; }

    /// <summary>The file's version as its server names it (the ETag), or null.</summary>
    public string? ETag => _etag;

    /// <summary>Bytes received from the server so far.</summary>
    public long BytesFetched { get; private set; }

    /// <summary>Range requests sent so far.</summary>
    public int Requests { get; private set; }

    public override bool CanRead => true;

    public override bool CanSeek => true;

    public override bool CanWrite => false;

    public override long Length { get; }

    public override long Position
    {
        get => _position;
        set => Seek(value, SeekOrigin.Begin);
    }

    public override long Seek(long offset, SeekOrigin origin)
    {
        var target = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            _ => Length + offset,
        };
        ArgumentOutOfRangeException.ThrowIfNegative(target, nameof(offset));
        _position = target;
        return target;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (_position >= Length || buffer.IsEmpty)
        {
            return 0;
        }

        var want = (int)Math.Min(buffer.Length, Length - _position);
        if (_windowStart < 0 || _position < _windowStart || _position + want > _windowStart + _window.Length)
        {
            Fill(_position, Math.Max(want, (int)Math.Min(WindowSize, Length - _position)));
        }

        _window.AsSpan((int)(_position - _windowStart), want).CopyTo(buffer);
        _position += want;
        return want;
    }

    private void Fill(long start, int length)
    {
        try
        {
            FillCore(start, length);
        }
        catch (ColumnarInputException ex)
        {
            Failure = ex;
            throw;
        }
    }

    private void FillCore(long start, int length)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, _uri);
        request.Headers.Range = new RangeHeaderValue(start, start + length - 1);
        request.Headers.Authorization = _authorization;
        if (_etag is not null)
        {
            request.Headers.IfRange = new RangeConditionHeaderValue(new EntityTagHeaderValue(_etag));
        }

        try
        {
            // Parquet readers read synchronously; the caller is a worker thread of its own, so blocking here is intended.
            using var response = _http.Send(request, HttpCompletionOption.ResponseHeadersRead);
            if (response.StatusCode != HttpStatusCode.PartialContent)
            {
                throw new ColumnarInputException(response.StatusCode == HttpStatusCode.OK
                    ? $"{_uri} changed while it was read, or its server does not serve byte ranges"
                    : $"{_uri} answered {(int)response.StatusCode} {response.ReasonPhrase} for bytes {start}-{start + length - 1}", response.StatusCode);
            }

            var window = _window.Length == length ? _window : new byte[length];
            using var body = response.Content.ReadAsStream();
            body.ReadExactly(window, 0, length);
            _window = window;
            _windowStart = start;
            BytesFetched += length;
            Requests++;
        }
        catch (HttpRequestException ex)
        {
            throw new ColumnarInputException($"reading {_uri} failed: {ex.Message}", ex);
        }
        catch (EndOfStreamException ex)
        {
            throw new ColumnarInputException($"{_uri} ended early in bytes {start}-{start + length - 1}", new IOException(ex.Message, ex));
        }
        catch (IOException ex)
        {
            throw new ColumnarInputException($"reading {_uri} failed: {ex.Message}", ex);
        }
        catch (TaskCanceledException ex)
        {
            throw new ColumnarInputException($"{_uri} did not answer in time for bytes {start}-{start + length - 1}", new TimeoutException(ex.Message, ex));
        }
    }

    public override void Flush()
    {
    }

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
