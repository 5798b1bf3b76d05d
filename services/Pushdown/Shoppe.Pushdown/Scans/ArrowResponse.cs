using System.Diagnostics;
using Apache.Arrow;
using Apache.Arrow.Ipc;

namespace Shoppe.Pushdown.Scans;

/// <summary>
/// A scan's answer over HTTP: an Arrow IPC stream, the first batch sent at once and the others as they come
/// (those ready together in one write, none held more than 50 ms), the end marker once all are out,
/// and the scan's status ended either way. A failure once the stream has begun breaks the connection off rather than
/// ending the stream, so no reader takes a cut result for a whole one.
/// </summary>
internal static class ArrowResponse
{
    private const int BufferBytes = 1024 * 1024;

    /// <summary>The longest a written batch waits for company before it is sent.</summary>
    private static readonly TimeSpan FlushInterval = TimeSpan.FromMilliseconds(50);

    public static async Task WriteAsync(HttpContext context, Schema schema, IAsyncEnumerable<RecordBatch> batches, ScanService scans, ScanState state, CancellationToken cancellationToken)
    {
        try
        {
            // Arrow's writer makes a write per piece of a batch (its length, its metadata, each buffer and its padding),
            // and each write to an HTTP/1.1 body is a chunk of its own that the client reads on its own: pieces are
            // gathered here into writes of up to 1 MiB (larger buffers pass straight through).
            var body = new BufferedStream(context.Response.Body, BufferBytes);
            using var writer = new ArrowStreamWriter(body, schema, leaveOpen: true);
            await writer.WriteStartAsync(cancellationToken);
            await body.FlushAsync(cancellationToken);
            await using var next = batches.GetAsyncEnumerator(cancellationToken);
            var held = false;
            var first = true;
            var flushed = Stopwatch.GetTimestamp();
            while (true)
            {
                var moving = next.MoveNextAsync().AsTask();
                if (held && !moving.IsCompleted)
                {
                    // Nothing more is ready: what is held goes out once it has waited FlushInterval, or sooner with the
                    // next batch. A client woken once per flush rather than once per batch spends its CPU on the data.
                    var wait = FlushInterval - Stopwatch.GetElapsedTime(flushed);
                    if (wait <= TimeSpan.Zero || await Task.WhenAny(moving, Task.Delay(wait, CancellationToken.None)) != moving)
                    {
                        await body.FlushAsync(cancellationToken);
                        flushed = Stopwatch.GetTimestamp();
                        held = false;
                    }
                }

                if (!await moving)
                {
                    break;
                }

                using (var batch = next.Current)
                {
                    await writer.WriteRecordBatchAsync(batch, cancellationToken);
                    state.AddBatch(batch.Length);
                }

                // The first batch goes out at once; later ones while more are ready ride together.
                if (first)
                {
                    first = false;
                    await body.FlushAsync(cancellationToken);
                    flushed = Stopwatch.GetTimestamp();
                }
                else
                {
                    held = true;
                }
            }

            await writer.WriteEndAsync(cancellationToken);
            await body.FlushAsync(cancellationToken);
            scans.Finish(state, null);
        }
        catch (Exception ex)
        {
            scans.Finish(state, ex is OperationCanceledException && cancellationToken.IsCancellationRequested ? new OperationCanceledException("the client went away") : ex);
            context.Abort();
        }
    }
}
