using System.Net;
using Apache.Arrow;
using Apache.Arrow.Ipc;
using Apache.Arrow.Types;
using Shoppe.Pushdown.Client;

namespace Shoppe.Pushdown.Tests.Scans;

/// <summary>The HTTP reader takes a stream for whole only when it ends with Arrow's end-of-stream marker.</summary>
public sealed class ScanReaderTests
{
    [Theory]
    [InlineData(true, 2)]
    [InlineData(false, 2)]
    [InlineData(false, 0)]
    public async Task StreamWithoutEndMarker_IsACutStream(bool whole, int batches)
    {
        var schema = new Schema([new Field("event", UInt64Type.Default, nullable: false)], null);
        using var buffer = new MemoryStream();
        using (var writer = new ArrowStreamWriter(buffer, schema, leaveOpen: true))
        {
            await writer.WriteStartAsync(TestContext.Current.CancellationToken);
            for (var b = 0; b < batches; b++)
            {
                using var batch = new RecordBatch(schema, [new UInt64Array.Builder().AppendRange([1UL, 2UL, 3UL]).Build()], 3);
                await writer.WriteRecordBatchAsync(batch, TestContext.Current.CancellationToken);
            }

            if (whole)
            {
                await writer.WriteEndAsync(TestContext.Current.CancellationToken);
            }
        }

        using var http = new HttpClient(new Canned(buffer.ToArray())) { BaseAddress = new Uri("http://node/") };
        using var reader = await new PushdownClient(http).ScanAsync(ScanRequest.Of("d", ["event"]), TestContext.Current.CancellationToken);
        var read = 0;
        async Task ReadAllAsync()
        {
            while (await reader.ReadNextAsync(TestContext.Current.CancellationToken) is { } batch)
            {
                read += batch.Length;
                batch.Dispose();
            }
        }

        if (whole)
        {
            await ReadAllAsync();
            Assert.Equal(3 * batches, read);
        }
        else
        {
            var cut = await Assert.ThrowsAsync<IOException>(ReadAllAsync);
            Assert.Contains("without Arrow's end-of-stream marker", cut.Message, StringComparison.Ordinal);
        }
    }

    private sealed class Canned(byte[] body) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(body) });
    }
}
