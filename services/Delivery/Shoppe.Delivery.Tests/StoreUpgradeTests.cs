using Microsoft.Data.Sqlite;
using Shoppe.Delivery.Transforms;

namespace Shoppe.Delivery.Tests;

/// <summary>
/// A store written by the version before leases: files it left running (it resumed them at its next start) wait
/// again, and transforms' counters are counted from their files, so their status is right after the upgrade.
/// </summary>
public sealed class StoreUpgradeTests : IAsyncLifetime
{
    private readonly string _root = Directory.CreateTempSubdirectory("shoppe-delivery-upgrade-").FullName;

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync() => await TestFolders.DeleteAsync(_root);

    [Fact]
    public async Task OldRunningFiles_WaitAgain_AndCountersAreCounted()
    {
        var path = Path.Combine(_root, "delivery.db");
        var ct = TestContext.Current.CancellationToken;
        await using (var store = TransformStore.Sqlite(path))
        {
            await store.InitializeAsync(ct);
            var transform = new TransformRecord("old", "alice", TransformStates.Running, null, "3 files", ["MET_pt"], null, "parquet", Path.Combine(_root, "out"), 3, DateTimeOffset.UtcNow, null, null);
            await store.CreateAsync(transform, ["/a.parquet", "/b.parquet", "/c.parquet"], ct);
        }

        // As the old version left it: one file done (no counters then), one running without a lease, one pending.
        await using (var connection = new SqliteConnection($"Data Source={path};Pooling=false"))
        {
            await connection.OpenAsync(ct);
            await using var command = connection.CreateCommand();
            command.CommandText = """
                UPDATE transform_files SET state = 'done', events_in = 100, events_out = 40, bytes_out = 7 WHERE idx = 0;
                UPDATE transform_files SET state = 'running', attempts = 1, holder = NULL, lease_until = NULL WHERE idx = 1;
                UPDATE transforms SET files_done = 0, events_in = 0, events_out = 0, bytes_out = 0;
                """;
            await command.ExecuteNonQueryAsync(ct);
        }

        await using (var store = TransformStore.Sqlite(path))
        {
            await store.InitializeAsync(ct);
            var files = await store.GetFilesAsync("old", ct);
            Assert.Equal([FileStates.Done, FileStates.Pending, FileStates.Pending], files.Select(f => f.State));
            var summary = await store.SummarizeAsync("old", ct);
            Assert.Equal((1, 2, 100L, 40L, 7L), (summary.Count(FileStates.Done), summary.Count(FileStates.Pending), summary.EventsIn, summary.EventsOut, summary.BytesOut));
            var claimed = Assert.Single(await store.ClaimAsync("worker", 1, null, TimeSpan.FromSeconds(30), DateTimeOffset.UtcNow, _ => null, ct));
            Assert.Equal((1, 2), (claimed.Index, claimed.Attempt));
        }
    }
}
