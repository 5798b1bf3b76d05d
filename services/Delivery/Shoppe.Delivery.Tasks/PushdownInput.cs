using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Shoppe.Columnar;
using Shoppe.Columnar.Io;
using Shoppe.Pushdown.Client;

namespace Shoppe.Delivery.Tasks;

/// <summary>
/// One input transformed on the pushdown node that holds it (<c>pushdown:/path</c>): the node runs the same query
/// (the same selection language, the same compiler) beside the file and streams the result as Arrow, written here
/// with the same writer as a local transform, so the output has the same content whichever way it was made.
/// </summary>
public static class PushdownInput
{
    /// <summary>Runs <paramref name="spec"/>'s query on the node at <paramref name="node"/> into <paramref name="outputPath"/>.</summary>
    /// <exception cref="ColumnarInputException">The node refused the file (transient where the node is busy or failing).</exception>
    public static async Task<TransformResult> RunAsync(HttpClient http, string node, FileTaskSpec spec, string outputPath, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(spec);
        var watch = Stopwatch.StartNew();
        var path = spec.Input["pushdown:".Length..];
        var client = new PushdownClient(http, new Uri(node), spec.Access.PushdownToken);
        var request = new ScanRequest(JsonSerializer.SerializeToElement(new[] { path }, PushdownJsonContext.Default.StringArray), spec.Columns, spec.Filter);
        ScanReader reader;
        try
        {
            reader = await client.ScanAsync(request, cancellationToken);
        }
        catch (PushdownException ex)
        {
            throw new ColumnarInputException($"the pushdown node refused {path}: {ex.Title}: {ex.Detail}", (HttpStatusCode)ex.Status);
        }

        using (reader)
        {
            long rows;
            long bytesOut;
            ColumnarWriter? writer = null;
            try
            {
                while (await reader.ReadNextAsync(cancellationToken) is { } batch)
                {
                    using (batch)
                    {
                        writer ??= new ColumnarWriter(outputPath, batch.Schema, spec.OutputFormat);
                        writer.Write(batch);
                    }
                }

                writer ??= new ColumnarWriter(outputPath, reader.Schema, spec.OutputFormat);
                rows = writer.Rows;
                bytesOut = writer.Commit();
            }
            finally
            {
                writer?.Dispose();
            }

            // The events the node read, for the transform's counts; the output is whole either way.
            ScanStatus? status = null;
            try
            {
                status = reader.ScanId is { } id ? await client.StatusAsync(id, cancellationToken) : null;
            }
            catch (Exception ex) when (ex is PushdownException or HttpRequestException)
            {
                // gone from the node's list, or another node behind a balancer: count the events written
            }

            return new TransformResult(status?.EventsScanned ?? rows, rows, reader.BytesReceived, bytesOut, watch.Elapsed);
        }
    }
}
