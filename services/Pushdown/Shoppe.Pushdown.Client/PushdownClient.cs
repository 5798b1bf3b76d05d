using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Apache.Arrow;
using Apache.Arrow.Ipc;

namespace Shoppe.Pushdown.Client;

/// <summary>A scan the node refused, with the RFC 9457 problem it answered.</summary>
public sealed class PushdownException(int status, string title, string detail) : Exception($"{title}: {detail}")
{
    /// <summary>The HTTP status.</summary>
    public int Status { get; } = status;

    /// <summary>The problem's title.</summary>
    public string Title { get; } = title;

    /// <summary>The problem's detail.</summary>
    public string Detail { get; } = detail;

    /// <summary>The problem as the node sent it (RFC 9457 JSON, with a selection error's position and expression).</summary>
    public string? Body { get; init; }
}

/// <summary>
/// Scans over plain HTTP: <c>POST /v1/scans</c> answers an Arrow IPC stream, read here batch by batch as it arrives.
/// A stream the node breaks off (a failure mid-scan) ends in an exception, never in a short result taken for whole.
/// </summary>
public sealed class PushdownClient
{
    private readonly HttpClient _http;
    private readonly Uri? _node;
    private readonly AuthenticationHeaderValue? _authorization;

    /// <param name="http">A client with the node's base address and the caller's token.</param>
    public PushdownClient(HttpClient http)
    {
        ArgumentNullException.ThrowIfNull(http);
        _http = http;
    }

    /// <param name="http">A shared client (no base address of the node's).</param>
    /// <param name="node">The node's base URL.</param>
    /// <param name="token">The bearer token sent with every call; null for none.</param>
    public PushdownClient(HttpClient http, Uri node, string? token)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(node);
        _http = http;
        _node = new Uri(node.AbsoluteUri.TrimEnd('/') + "/");
        _authorization = token is { Length: > 0 } ? new AuthenticationHeaderValue("Bearer", token) : null;
    }

    private HttpRequestMessage Message(HttpMethod method, string path)
    {
        var message = new HttpRequestMessage(method, _node is null ? new Uri(path, UriKind.Relative) : new Uri(_node, path));
        if (_authorization is not null)
        {
            message.Headers.Authorization = _authorization;
        }

        return message;
    }

    /// <summary>The media type of a scan's answer.</summary>
    public const string ArrowStreamType = "application/vnd.apache.arrow.stream";

    /// <summary>The header naming a scan's own id (its status): the request id, or the request id and a number where one request makes several scans.</summary>
    public const string ScanIdHeader = "X-Shoppe-Scan-Id";

    /// <summary>Starts a scan; the returned stream reads its batches.</summary>
    /// <exception cref="PushdownException">The node refused the scan.</exception>
    public async Task<ScanReader> ScanAsync(ScanRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        using var message = Message(HttpMethod.Post, "v1/scans");
        message.Content = new ByteArrayContent(request.ToJson());
        message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        message.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(ArrowStreamType));
        var response = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        try
        {
            if (!response.IsSuccessStatusCode)
            {
                throw await ProblemAsync(response, cancellationToken);
            }

            var body = await response.Content.ReadAsStreamAsync(cancellationToken);
            return new ScanReader(response, body);
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    /// <summary>Plans a scan without running it (<c>POST /v1/scans/plan</c>): the node checks the selection against the files.</summary>
    /// <exception cref="PushdownException">The node refused the scan.</exception>
    public async Task<ScanPlanInfo> PlanAsync(ScanRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        using var message = Message(HttpMethod.Post, "v1/scans/plan");
        message.Content = new ByteArrayContent(request.ToJson());
        message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var response = await _http.SendAsync(message, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw await ProblemAsync(response, cancellationToken);
        }

        return (await response.Content.ReadFromJsonAsync(PushdownJsonContext.Default.ScanPlanInfo, cancellationToken))!;
    }

    /// <summary>A scan's status (<c>GET /v1/scans/{id}</c>).</summary>
    public async Task<ScanStatus> StatusAsync(string id, CancellationToken cancellationToken)
    {
        using var message = Message(HttpMethod.Get, $"v1/scans/{Uri.EscapeDataString(id)}");
        using var response = await _http.SendAsync(message, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw await ProblemAsync(response, cancellationToken);
        }

        return (await response.Content.ReadFromJsonAsync(PushdownJsonContext.Default.ScanStatus, cancellationToken))!;
    }

    private static async Task<PushdownException> ProblemAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        try
        {
            using var problem = JsonDocument.Parse(text);
            var title = problem.RootElement.TryGetProperty("title", out var t) ? t.GetString() : null;
            var detail = problem.RootElement.TryGetProperty("detail", out var d) ? d.GetString() : null;
            return new PushdownException((int)response.StatusCode, title ?? response.ReasonPhrase ?? "Refused", detail ?? text) { Body = text };
        }
        catch (JsonException)
        {
            return new PushdownException((int)response.StatusCode, response.ReasonPhrase ?? "Refused", text.Length > 500 ? text[..500] : text);
        }
    }
}

/// <summary>One scan's answer: its request id, its schema, then its batches as the node sends them.</summary>
public sealed class ScanReader : IDisposable
{
    private readonly HttpResponseMessage _response;
    private readonly CountingStream _body;
    private readonly ArrowStreamReader _reader;

    internal ScanReader(HttpResponseMessage response, Stream body)
    {
        _response = response;
        _body = new CountingStream(body);
        _reader = new ArrowStreamReader(_body, PooledAllocator.Shared);
        RequestId = response.Headers.TryGetValues("X-Shoppe-Request-Id", out var ids) ? ids.FirstOrDefault() : null;
        ScanId = response.Headers.TryGetValues(PushdownClient.ScanIdHeader, out var scans) ? scans.FirstOrDefault() : RequestId;
    }

    /// <summary>The scan's request id (its logs).</summary>
    public string? RequestId { get; }

    /// <summary>The scan's own id (its status, <see cref="PushdownClient.StatusAsync"/>).</summary>
    public string? ScanId { get; }

    /// <summary>Bytes of Arrow received so far.</summary>
    public long BytesReceived => _body.Count;

    /// <summary>
    /// The next batch, or null at the end of the scan. The caller disposes each batch. A stream that ends without
    /// Arrow's end-of-stream marker was cut off (the node failed, or something between broke it): an
    /// <see cref="IOException"/>, never a short result taken for whole.
    /// </summary>
    public async Task<RecordBatch?> ReadNextAsync(CancellationToken cancellationToken)
    {
        var batch = await _reader.ReadNextRecordBatchAsync(cancellationToken);
        if (batch is null && !_body.EndsWithEndOfStream)
        {
            throw new IOException($"the scan's stream ended after {_body.Count} bytes without Arrow's end-of-stream marker: it was cut off (see the scan's status and logs)");
        }

        return batch;
    }

    /// <summary>The result's schema, known once <see cref="ReadNextAsync"/> has been called.</summary>
    public Schema Schema => _reader.Schema;

    public void Dispose()
    {
        _reader.Dispose();
        _body.Dispose();
        _response.Dispose();
    }

    /// <summary>Counts what passes through.</summary>
    private sealed class CountingStream(Stream inner) : Stream
    {
        private readonly byte[] _last = new byte[8];

        public long Count { get; private set; }

        /// <summary>Whether the last 8 bytes read are Arrow's end-of-stream marker (continuation 0xFFFFFFFF, length 0).</summary>
        public bool EndsWithEndOfStream => Count >= 8 && _last.AsSpan(0, 4).IndexOfAnyExcept((byte)0xFF) < 0 && _last.AsSpan(4).IndexOfAnyExcept((byte)0) < 0;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => Count; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Counted(buffer.AsSpan(offset, count), inner.Read(buffer, offset, count));

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var read = await inner.ReadAsync(buffer, cancellationToken);
            return Counted(buffer.Span, read);
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        private int Counted(Span<byte> buffer, int read)
        {
            // Keep the last 8 bytes seen, across reads.
            if (read >= 8)
            {
                buffer.Slice(read - 8, 8).CopyTo(_last);
            }
            else if (read > 0)
            {
                _last.AsSpan(read).CopyTo(_last);
                buffer[..read].CopyTo(_last.AsSpan(8 - read));
            }

            Count += read;
            return read;
        }

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
            }

            base.Dispose(disposing);
        }
    }
}
