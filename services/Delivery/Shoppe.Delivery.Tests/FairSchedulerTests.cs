using Shoppe.Delivery.Transforms;

namespace Shoppe.Delivery.Tests;

public sealed class FairSchedulerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Dequeue_ALargeRequestAndASmallOne_TheSmallOneGoesNext()
    {
        using var scheduler = new FairScheduler();
        for (var i = 0; i < 1000; i++)
        {
            scheduler.Enqueue(new FileWork("big", "alice", i, $"f{i}", 1));
        }

        Assert.Equal("big", (await scheduler.DequeueAsync(Ct)).RequestId);
        scheduler.Enqueue(new FileWork("small", "bob", 0, "g0", 1));

        Assert.Equal("small", (await scheduler.DequeueAsync(Ct)).RequestId);
        Assert.Equal(999, scheduler.Waiting);
    }

    [Fact]
    public async Task Dequeue_TwoUsers_AlternateWhateverTheirQueues()
    {
        using var scheduler = new FairScheduler();
        for (var i = 0; i < 10; i++)
        {
            scheduler.Enqueue(new FileWork("a1", "alice", i, "x", 1));
            scheduler.Enqueue(new FileWork("a2", "alice", i, "x", 1));
        }

        for (var i = 0; i < 3; i++)
        {
            scheduler.Enqueue(new FileWork("b1", "bob", i, "x", 1));
        }

        var order = new List<string>();
        for (var i = 0; i < 23; i++)
        {
            order.Add((await scheduler.DequeueAsync(Ct)).RequestId);
        }

        // Users alternate while both wait (bob, not yet served, first); alice's two requests alternate within her turns.
        Assert.Equal(["b1", "a1", "b1", "a2", "b1", "a1", "a2", "a1", "a2"], order.Take(9));
        Assert.Equal(0, scheduler.Waiting);
    }

    [Fact]
    public async Task Remove_DropsACancelledRequestsWaitingFiles()
    {
        using var scheduler = new FairScheduler();
        scheduler.Enqueue(new FileWork("a", "alice", 0, "x", 1));
        scheduler.Enqueue(new FileWork("a", "alice", 1, "x", 1));
        scheduler.Enqueue(new FileWork("b", "bob", 0, "x", 1));

        Assert.Equal(2, scheduler.Remove("a"));

        Assert.Equal("b", (await scheduler.DequeueAsync(Ct)).RequestId);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => scheduler.DequeueAsync(timeout.Token));
    }
}
