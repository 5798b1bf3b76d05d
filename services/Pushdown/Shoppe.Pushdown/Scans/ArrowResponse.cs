using Apache.Arrow;
using Apache.Arrow.Ipc;

namespace Shoppe.Pushdown.Scans;

/// <summary>
/// A scan's answer over HTTP: an Arrow IPC stream, each batch flushed as it comes, the end marker once all are out,
/// and the scan's status ended either way. A failure once the stream has begun breaks the connection off rather than
/// ending the stream, so no reader takes a cut result for a whole one.
/// </summary>
internal static class ArrowResponse
{
    public static async Task WriteAsync(HttpContext context, Schema schema, IAsyncEnumerable<RecordBatch> batches, ScanService scans, ScanState state, CancellationToken cancellationToken)
    {
        try
        {
            using var writer = new ArrowStreamWriter(context.Response.Body, schema, leaveOpen: true);
            await writer.WriteStartAsync(cancellationToken);
            await context.Response.Body.FlushAsync(cancellationToken);
            await foreach (var batch in batches.WithCancellation(cancellationToken))
            {
                using (batch)
                {
                    await writer.WriteRecordBatchAsync(batch, cancellationToken);
                    await context.Response.Body.FlushAsync(cancellationToken);
                    state.AddBatch(batch.Length);
                }
            }

            await writer.WriteEndAsync(cancellationToken);
            scans.Finish(state, null);
        }
        catch (Exception ex)
        {
            scans.Finish(state, ex is OperationCanceledException && cancellationToken.IsCancellationRequested ? new OperationCanceledException("the client went away") : ex);
            context.Abort();
        }
    }
}
