using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using Shoppe.Security.Remotes;
using Shoppe.Transfer.Storage;

namespace Shoppe.Transfer.Tpc;

/// <summary>
/// WebDAV <c>COPY</c> as the WLCG HTTP-TPC specification and XRootD do it: with <c>Source:</c> this endpoint pulls
/// the remote file into its storage; with <c>Destination:</c> it pushes a stored file to the remote with a
/// <c>PUT</c>. <c>TransferHeader&lt;Name&gt;</c> request headers go to the remote as <c>&lt;Name&gt;</c>. The
/// answer is <c>202</c> with a streamed body: a performance marker at once and then every
/// <see cref="TransferOptions.MarkerInterval"/>, and a last line <c>success: Created</c> or <c>failure: ...</c>.
/// A pulled file appears under its name only when complete and verified; a failure leaves nothing behind.
/// </summary>
public sealed partial class ThirdPartyCopy(HttpClient remote, RemotePolicy policy, TransferOptions options, ILogger<ThirdPartyCopy> logger)
{
    public const string TransferHeaderPrefix = "TransferHeader";

    /// <summary>Validates a COPY and returns what to do, or an error (status and body) in XRootD's words.</summary>
    public (CopyPlan? Plan, int Status, string? Error) Plan(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var source = request.Headers["Source"].ToString();
        var destination = request.Headers["Destination"].ToString();
        if (source.Length == 0 == (destination.Length == 0))
        {
            return (null, 400, source.Length == 0 ? "No Source or Destination specified" : "Give Source or Destination, not both");
        }

        // gfal2 sends the header twice ("none,none"): every value must be none (no delegated proxy).
        var credentials = request.Headers["Credential"].SelectMany(v => (v ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));
        if (credentials.Any(c => !c.Equals("none", StringComparison.OrdinalIgnoreCase)))
        {
            return (null, 400, "COPY requested an unsupported Credential type");
        }

        var remoteText = source.Length > 0 ? source : destination;
        if (!Uri.TryCreate(remoteText, UriKind.Absolute, out var remoteUri) || remoteUri.Scheme is not ("http" or "https") || remoteText.Length > 4096)
        {
            return (null, 400, $"The {(source.Length > 0 ? "Source" : "Destination")} must be an http(s) URL");
        }

        if (policy.Check(remoteUri) is { } refusal)
        {
            return (null, 403, refusal);
        }

        var forwarded = new List<KeyValuePair<string, string>>();
        foreach (var (name, values) in request.Headers)
        {
            if (name.Length > TransferHeaderPrefix.Length && name.StartsWith(TransferHeaderPrefix, StringComparison.OrdinalIgnoreCase))
            {
                forwarded.Add(new(name[TransferHeaderPrefix.Length..], values.ToString()));
            }
        }

        var overwrite = !request.Headers["Overwrite"].ToString().Equals("F", StringComparison.OrdinalIgnoreCase);
        var verify = request.Headers["RequireChecksumVerification"].ToString().Equals("true", StringComparison.OrdinalIgnoreCase);
        return (new CopyPlan(source.Length > 0, remoteUri, forwarded, overwrite, verify), 0, null);
    }

    /// <summary>Runs a planned copy, streaming markers to <paramref name="response"/>; the status line is already decided (202).</summary>
    public async Task RunAsync(CopyPlan plan, string local, HttpResponse response, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(response);
        response.StatusCode = StatusCodes.Status202Accepted;
        response.ContentType = "text/plain";
        await response.StartAsync(cancellationToken);
        var progress = new Progress();
        var copy = plan.Pull ? PullAsync(plan, local, progress, cancellationToken) : PushAsync(plan, local, progress, cancellationToken);
        try
        {
            await WriteMarkerAsync(response, plan, progress.Bytes, cancellationToken);
            while (await Task.WhenAny(copy, Task.Delay(options.MarkerInterval, cancellationToken)) != copy)
            {
                await WriteMarkerAsync(response, plan, progress.Bytes, cancellationToken);
            }

            await copy;
            LogDone(logger, plan.Pull ? "pull" : "push", plan.Remote, progress.Bytes);
            await WriteAsync(response, "success: Created\n", cancellationToken);
        }
        catch (Exception ex) when (ex is CopyFailedException or HttpRequestException or IOException or OperationCanceledException or UnauthorizedAccessException)
        {
            var reason = ex switch
            {
                CopyFailedException f => f.Message,
                OperationCanceledException when cancellationToken.IsCancellationRequested => "the client went away",
                OperationCanceledException => $"the remote sent nothing for {options.RemoteTimeout.TotalSeconds:0} s",
                _ => ex.Message,
            };
            LogFailed(logger, plan.Pull ? "pull" : "push", plan.Remote, reason);
            if (!cancellationToken.IsCancellationRequested)
            {
                await WriteAsync(response, $"failure: {reason.ReplaceLineEndings(" ")}\n", CancellationToken.None);
            }
        }
    }

    private static Task WriteMarkerAsync(HttpResponse response, CopyPlan plan, long bytes, CancellationToken cancellationToken)
    {
        var marker = new StringBuilder()
            .Append("Perf Marker\n")
            .Append(CultureInfo.InvariantCulture, $"Timestamp: {DateTimeOffset.UtcNow.ToUnixTimeSeconds()}\n")
            .Append("Stripe Index: 0\n")
            .Append(CultureInfo.InvariantCulture, $"Stripe Bytes Transferred: {bytes}\n")
            .Append("Total Stripe Count: 1\n");
        if (plan.Pull)
        {
            marker.Append(CultureInfo.InvariantCulture, $"RemoteConnections: tcp:{plan.Remote.Host}:{plan.Remote.Port}\n");
        }

        marker.Append("End\n");
        return WriteAsync(response, marker.ToString(), cancellationToken);
    }

    private static async Task WriteAsync(HttpResponse response, string text, CancellationToken cancellationToken)
    {
        await response.WriteAsync(text, cancellationToken);
        await response.Body.FlushAsync(cancellationToken);
    }

    private static HttpRequestMessage Remote(HttpMethod method, CopyPlan plan)
    {
        var request = new HttpRequestMessage(method, plan.Remote);
        foreach (var (name, value) in plan.Forwarded)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        return request;
    }

    private async Task PullAsync(CopyPlan plan, string local, Progress progress, CancellationToken cancellationToken)
    {
        if (!plan.Overwrite && File.Exists(local))
        {
            throw new CopyFailedException($"Unable to create {Path.GetFileName(local)}; file exists");
        }

        using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        stall.CancelAfter(options.RemoteTimeout);
        void OnBytes(int n)
        {
            stall.CancelAfter(options.RemoteTimeout);
            progress.Add(n);
        }

        Directory.CreateDirectory(Path.GetDirectoryName(local)!);
        using var temporary = new TemporaryFile(Path.GetDirectoryName(local)!, ".tpc-");
        if (!(SplicePull.Applies(plan.Remote, plan.Verify) && await TrySpliceAsync(plan, temporary, OnBytes, stall.Token)))
        {
            await FetchAsync(plan, temporary, progress, OnBytes, stall.Token);
        }

        if (!plan.Overwrite && File.Exists(local))
        {
            throw new CopyFailedException($"Unable to create {Path.GetFileName(local)}; file exists");
        }

        temporary.MoveTo(local, overwrite: plan.Overwrite);
    }

    /// <summary>The body spliced from the socket into the file (<see cref="SplicePull"/>); false when the answer is one for HttpClient.</summary>
    private async Task<bool> TrySpliceAsync(CopyPlan plan, TemporaryFile temporary, Action<int> onBytes, CancellationToken stall)
    {
        using var file = File.OpenHandle(temporary.FullName, FileMode.Create, FileAccess.Write, FileShare.None);
        try
        {
            var (outcome, _) = await SplicePull.PullAsync(policy, plan.Remote, plan.Forwarded, file, onBytes, stall);
            if (outcome == SplicePull.Outcome.Copied && options.SyncOnClose)
            {
                RandomAccess.FlushToDisk(file);
            }

            return outcome == SplicePull.Outcome.Copied;
        }
        catch (SocketException ex)
        {
            // In the words HttpClient would use, so a failure reads the same whichever way the copy went.
            throw new HttpRequestException($"{ex.Message} ({plan.Remote.IdnHost}:{plan.Remote.Port})", ex);
        }
    }

    /// <summary>The body through HttpClient, with the adler32 of what arrives when verification is asked for.</summary>
    private async Task FetchAsync(CopyPlan plan, TemporaryFile temporary, Progress progress, Action<int> onBytes, CancellationToken stall)
    {
        using var request = Remote(HttpMethod.Get, plan);
        if (plan.Verify)
        {
            request.Headers.TryAddWithoutValidation("Want-Digest", "adler32");
        }

        using var response = await remote.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, stall);
        if (response.StatusCode != System.Net.HttpStatusCode.OK)
        {
            // Only a 200 is the whole file (a forwarded Range header could make a 206 of a fragment).
            throw new CopyFailedException($"Remote side failed with status code {(int)response.StatusCode}");
        }

        var expected = response.Content.Headers.ContentLength;
        var adler = plan.Verify ? new Adler32() : null;
        await using (var source = await response.Content.ReadAsStreamAsync(stall))
        await using (var target = new FileStream(temporary.FullName, FileMode.Create, FileAccess.Write, FileShare.None, 1, FileOptions.None))
        {
            FileWriting.Preallocate(target.SafeFileHandle, expected ?? 0);
            await FileWriting.CopyAsync(source, target, onBytes, adler is null ? null : block => adler.Append(block.Span), stall);
            target.Flush(flushToDisk: options.SyncOnClose);
        }

        if (expected is { } length && length != progress.Bytes)
        {
            throw new CopyFailedException($"Remote side sent {progress.Bytes} of {length} bytes");
        }

        if (adler is not null)
        {
            var digest = response.Headers.TryGetValues("Digest", out var values) ? values.FirstOrDefault(v => v.StartsWith("adler32=", StringComparison.OrdinalIgnoreCase)) : null;
            if (digest is null)
            {
                throw new CopyFailedException("Checksum verification was asked for, and the remote gave no adler32 digest");
            }

            if (!digest["adler32=".Length..].Trim().Equals(adler.Value.ToString("x8", CultureInfo.InvariantCulture), StringComparison.OrdinalIgnoreCase))
            {
                throw new CopyFailedException($"Checksum mismatch: remote {digest}, received adler32={adler.Value:x8}");
            }
        }
    }

    private async Task PushAsync(CopyPlan plan, string local, Progress progress, CancellationToken cancellationToken)
    {
        await using var file = new FileStream(local, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.Asynchronous | FileOptions.SequentialScan);
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        stall.CancelAfter(options.RemoteTimeout);
        using var request = Remote(HttpMethod.Put, plan);
        request.Content = new CountingContent(file, progress, () => stall.CancelAfter(options.RemoteTimeout));
        request.Content.Headers.ContentLength = file.Length;
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var response = await remote.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, stall.Token);
        if (!response.IsSuccessStatusCode)
        {
            throw new CopyFailedException($"Remote side failed with status code {(int)response.StatusCode}");
        }
    }

    /// <summary>Bytes moved so far, read by the marker loop while the copy writes.</summary>
    private sealed class Progress
    {
        private long _bytes;

        public long Bytes => Interlocked.Read(ref _bytes);

        public void Add(long n) => Interlocked.Add(ref _bytes, n);
    }

    private sealed class CountingContent(Stream source, Progress progress, Action onProgress) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context) =>
            await SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context, CancellationToken cancellationToken)
        {
            var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(1 << 20);
            try
            {
                int n;
                while ((n = await source.ReadAsync(buffer, cancellationToken)) > 0)
                {
                    await stream.WriteAsync(buffer.AsMemory(0, n), cancellationToken);
                    progress.Add(n);
                    onProgress();
                }
            }
            finally
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = source.Length;
            return true;
        }
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Third-party {Mode} with {Remote} done: {Bytes} bytes")]
    private static partial void LogDone(ILogger logger, string mode, Uri remote, long bytes);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "Third-party {Mode} with {Remote} failed: {Reason}")]
    private static partial void LogFailed(ILogger logger, string mode, Uri remote, string reason);
}

/// <summary>A checked COPY: which way, the remote, the headers to forward, and the options asked for.</summary>
public sealed record CopyPlan(bool Pull, Uri Remote, IReadOnlyList<KeyValuePair<string, string>> Forwarded, bool Overwrite, bool Verify);

/// <summary>A copy that failed for a reason the client is told on the <c>failure:</c> line.</summary>
public sealed class CopyFailedException : Exception
{
    public CopyFailedException()
    {
    }

    public CopyFailedException(string message)
        : base(message)
    {
    }

    public CopyFailedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
