using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Win32.SafeHandles;

namespace Shoppe.Http.SendFile;

/// <summary>
/// Responses that send file bytes without copying them through the process (<c>sendfile(2)</c>), where the
/// connection allows it: plain HTTP/1.x on a Kestrel socket, a known Content-Length, and nothing between the
/// handler and Kestrel that rewrites the body (compression, TLS). Everywhere else the same calls copy the bytes
/// in 1 MiB reads straight into the response's buffers, so callers need not care which happens.
/// </summary>
public static class ZeroCopySendFile
{
    /// <summary>Bytes of a file handed to the response at a time (one placeholder run, one flush).</summary>
    private const int Chunk = 1 << 20;

    /// <summary>
    /// Kestrel's connection middleware that gives each plain-TCP connection a <see cref="ZeroCopyConnection"/>.
    /// It must run nearest the socket, before TLS: <see cref="IsZeroCopy"/> then refuses TLS connections.
    /// </summary>
    public static ListenOptions UseZeroCopySendFile(this ListenOptions listen)
    {
        ArgumentNullException.ThrowIfNull(listen);
        // The response's own limit on bytes queued for the socket (Kestrel's MaxResponseBufferSize) is kept.
        var pause = listen.KestrelServerOptions.Limits.MaxResponseBufferSize is { } limit and > 0 ? limit : 64 * 1024;
        listen.Use(next => async connection =>
        {
            if (connection.Features.Get<IConnectionSocketFeature>()?.Socket is not { } socket)
            {
                await next(connection);
                return;
            }

            var transport = connection.Transport;
            var zeroCopy = new ZeroCopyConnection(socket, transport, connection.Features.Get<IMemoryPoolFeature>()?.MemoryPool, Math.Max(pause, Chunk), connection.Abort);
            connection.Transport = zeroCopy;
            connection.Features.Set(zeroCopy);
            var pump = zeroCopy.PumpAsync();
            try
            {
                await next(connection);
            }
            finally
            {
                await zeroCopy.Output.CompleteAsync();
                await pump;
                connection.Transport = transport;
            }
        });
        return listen;
    }

    /// <summary>Whether this response's body bytes can come from files without a copy.</summary>
    public static bool IsZeroCopy(HttpContext context) => Connection(context) is not null;

    private static ZeroCopyConnection? Connection(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Features.Get<ZeroCopyConnection>() is not { } connection
            || !(HttpProtocol.IsHttp11(context.Request.Protocol) || HttpProtocol.IsHttp10(context.Request.Protocol))
            || context.Features.Get<ITlsConnectionFeature>() is not null)
        {
            return null;
        }

        // Kestrel's own body (its HttpProtocol is both features) or ours over it; anything else rewrites the bytes.
        var body = context.Features.Get<IHttpResponseBodyFeature>();
        return body is ZeroCopyResponseBodyFeature || ReferenceEquals(body, context.Features.Get<IHttpResponseFeature>()) ? connection : null;
    }

    /// <summary>
    /// Sends <paramref name="count"/> bytes of <paramref name="file"/> from <paramref name="offset"/> as the next part
    /// of the response body, starting the response first. The response's Content-Length must be set (Kestrel then
    /// counts these bytes against it). The handle may be closed as soon as this returns.
    /// </summary>
    /// <exception cref="OperationCanceledException">The client went away or <paramref name="cancellationToken"/> fired.</exception>
    public static async Task SendFileAsync(this HttpResponse response, SafeFileHandle file, long offset, long count, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(response);
        ArgumentNullException.ThrowIfNull(file);
        if (!response.HasStarted)
        {
            // Headers first: bytes written before the response starts are buffered by Kestrel and copied again.
            await response.StartAsync(cancellationToken);
        }

        var writer = response.BodyWriter;
        var connection = response.ContentLength is not null ? Connection(response.HttpContext) : null;
        if (connection is not null)
        {
            // Everything written so far must have reached the connection before positions are counted.
            Check(await writer.FlushAsync(cancellationToken), cancellationToken);
        }

        while (count > 0)
        {
            var n = (int)Math.Min(count, Chunk);
            if (connection is not null)
            {
                var region = connection.AddRegion(file, offset, n);
                try
                {
                    // Placeholders: advanced, never written; the connection sends the file's bytes in their place.
                    _ = writer.GetMemory(n);
                    writer.Advance(n);
                }
                catch
                {
                    connection.RemoveRegion(region);
                    throw;
                }
            }
            else
            {
                var memory = writer.GetMemory(n);
                var read = RandomAccess.Read(file, memory.Span[..n], offset);
                if (read <= 0)
                {
                    throw new IOException($"The file ended {count} bytes before the response did.");
                }

                writer.Advance(read);
                n = read;
                ZeroCopyMetrics.AddCopied(read);
            }

            offset += n;
            count -= n;
            Check(await writer.FlushAsync(cancellationToken), cancellationToken);
        }
    }

    private static void Check(System.IO.Pipelines.FlushResult result, CancellationToken cancellationToken)
    {
        if (result.IsCompleted || result.IsCanceled)
        {
            throw new OperationCanceledException("The client went away.", cancellationToken);
        }
    }
}

/// <summary>Counts the body bytes sent from files, by way (OpenTelemetry metric <c>shoppe.http.file_bytes</c>).</summary>
internal static class ZeroCopyMetrics
{
    public const string MeterName = "Shoppe.Http.SendFile";

    private static readonly Meter Meter = new(MeterName);

    private static readonly Counter<long> Bytes = Meter.CreateCounter<long>("shoppe.http.file_bytes", "By", "Response body bytes sent from files: by sendfile (zero_copy) or read and copied (copied).");

    private static long _zeroCopy;
    private static long _copied;

    /// <summary>Bytes sent by sendfile since the process started.</summary>
    public static long ZeroCopyBytes => Interlocked.Read(ref _zeroCopy);

    /// <summary>Bytes read from files and copied into responses since the process started.</summary>
    public static long CopiedBytes => Interlocked.Read(ref _copied);

    public static void AddFromFile(long n)
    {
        Interlocked.Add(ref _zeroCopy, n);
        Bytes.Add(n, new KeyValuePair<string, object?>("shoppe.http.file_path", "zero_copy"));
    }

    public static void AddCopied(long n)
    {
        Interlocked.Add(ref _copied, n);
        Bytes.Add(n, new KeyValuePair<string, object?>("shoppe.http.file_path", "copied"));
    }
}
