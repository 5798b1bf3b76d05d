using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using Apache.Arrow;
using Apache.Arrow.Ipc;
using Apache.Arrow.Types;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Shoppe.Pushdown.Scans;

namespace Shoppe.Pushdown.Tests.Scans;

/// <summary>
/// How an HTTP scan's batches go onto the wire: those ready together in one write (a client is woken once per write,
/// not once per batch), and none held back while the scan works on the next.
/// </summary>
public sealed class ArrowResponseTests : IDisposable
{
    private static readonly Schema EventSchema = new([new Field("event", UInt64Type.Default, nullable: false)], null);
    private readonly string _root = Directory.CreateTempSubdirectory("shoppe-response-").FullName;
    private readonly PushdownServiceFactory _service;

    public ArrowResponseTests() => _service = new PushdownServiceFactory(_root);

    public void Dispose()
    {
        _service.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public async Task BatchesReadyTogether_GoOutInOneWrite()
    {
        var body = new CountingBody();
        var state = await WriteAsync(body, Batches(50, gate: null, TestContext.Current.CancellationToken));

        // The schema, the first batch at once, then the other 49 and the end marker together.
        Assert.Equal(3, body.Flushes);
        Assert.Equal(50, state.Status().Batches);
        using var reader = new ArrowStreamReader(new MemoryStream(body.ToArray()));
        var events = 0L;
        while (await reader.ReadNextRecordBatchAsync(TestContext.Current.CancellationToken) is { } batch)
        {
            events += batch.Length;
            batch.Dispose();
        }

        Assert.Equal(50 * 3, events);
    }

    [Fact]
    public async Task BatchesHeld_GoOutWhileTheScanWorksOnTheNext()
    {
        var pipe = new Pipe();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var writing = WriteAsync(pipe.Writer.AsStream(), Batches(3, gate.Task, TestContext.Current.CancellationToken));
        using var reader = new ArrowStreamReader(pipe.Reader.AsStream());

        // The third batch is written and held; the scan then waits (the gate): the held batch must still arrive.
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken))
        {
            timeout.CancelAfter(TimeSpan.FromSeconds(10));
            for (var b = 0; b < 3; b++)
            {
                using var batch = await reader.ReadNextRecordBatchAsync(timeout.Token);
                Assert.NotNull(batch);
            }
        }

        Assert.False(writing.IsCompleted);
        gate.SetResult();
        using (var last = await reader.ReadNextRecordBatchAsync(TestContext.Current.CancellationToken))
        {
            Assert.Equal(3, last!.Length);
        }

        Assert.Null(await reader.ReadNextRecordBatchAsync(TestContext.Current.CancellationToken));
        Assert.Equal(4, (await writing).Status().Batches);
    }

    private async Task<ScanState> WriteAsync(Stream body, IAsyncEnumerable<RecordBatch> batches)
    {
        var scans = _service.Services.GetRequiredService<ScanService>();
        var state = scans.Registry.Begin("response-test-" + Guid.NewGuid().ToString("N"), "alice", "d");
        var context = new DefaultHttpContext();
        context.Response.Body = body;
        await ArrowResponse.WriteAsync(context, EventSchema, batches, scans, state, TestContext.Current.CancellationToken);
        if (body is not CountingBody)
        {
            await body.DisposeAsync(); // the pipe's writer: the reader sees the end
        }

        Assert.Null(state.Status().Error);
        return state;
    }

    /// <summary><paramref name="count"/> batches of 3 events, ready at once; with a gate, one more once it opens.</summary>
    private static async IAsyncEnumerable<RecordBatch> Batches(int count, Task? gate, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        for (var b = 0; b < count; b++)
        {
            yield return Batch(b);
        }

        if (gate is not null)
        {
            await gate.WaitAsync(cancellationToken);
            yield return Batch(count);
        }
    }

    private static RecordBatch Batch(int b) =>
        new(EventSchema, [new UInt64Array.Builder().AppendRange([(ulong)(3 * b), (ulong)(3 * b) + 1, (ulong)(3 * b) + 2]).Build()], 3);

    /// <summary>A response body that keeps what is written and counts the flushes (the writes a client wakes for).</summary>
    private sealed class CountingBody : MemoryStream
    {
        public int Flushes { get; private set; }

        public override Task FlushAsync(CancellationToken cancellationToken)
        {
            Flushes++;
            return base.FlushAsync(cancellationToken);
        }
    }
}
