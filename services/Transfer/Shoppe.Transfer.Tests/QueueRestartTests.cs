using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using Microsoft.Data.Sqlite;
using Shoppe.Transfer.Queue;

namespace Shoppe.Transfer.Tests;

/// <summary>A queued copy outlives a restart of the service that queues it: its tokens are kept, encrypted, until it ends.</summary>
public sealed class QueueRestartTests : IAsyncLifetime
{
    private readonly string _work = Directory.CreateTempSubdirectory("shoppe-queue-restart-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string Key => Path.Combine(_work, "signing.key");

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync() => await TestFolders.DeleteAsync(_work);

    /// <summary>The queue's service; retries a minute apart, so a failed first attempt leaves the copy queued.</summary>
    private TransferServiceFactory Queue() => new(Path.Combine(_work, "queue"), Key, new Dictionary<string, string?> { ["Transfer:RetryDelay"] = "00:01:00" });

    /// <summary>Submits a copy from a running source to a destination that is not up yet; returns its id once its first try failed.</summary>
    private async Task<string> QueueCopyToADownDestinationAsync(TransferServiceFactory source, int destinationPort, string destinationToken)
    {
        await using var queue = Queue();
        using var client = queue.ClientWith(null);
        using var response = await client.PostAsJsonAsync("/v1/transfers", new
        {
            source = new Uri(source.Url, "/f.bin").ToString(),
            destination = $"http://127.0.0.1:{destinationPort}/copy.bin",
            sourceToken = source.Token("alice", "storage.read:/"),
            destinationToken,
        }, Ct);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var id = (await response.Content.ReadFromJsonAsync(TransferJsonContext.Default.TransferJob, Ct))!.RequestId;
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        TransferJob job;
        do
        {
            await Task.Delay(50, Ct);
            job = (await client.GetFromJsonAsync($"/v1/transfers/{id}", TransferJsonContext.Default.TransferJob, Ct))!;
            Assert.True(DateTime.UtcNow < until, "the first attempt never failed");
        }
        while (job.Attempts < 1 || job.State != "queued");

        Assert.Contains("could not be reached", job.Error, StringComparison.Ordinal);
        return id;
    }

    private async Task<TransferServiceFactory> SourceAsync(byte[] data)
    {
        var source = new TransferServiceFactory(Path.Combine(_work, "source"), Key);
        Directory.CreateDirectory(source.Storage);
        await File.WriteAllBytesAsync(Path.Combine(source.Storage, "f.bin"), data, Ct);
        return source;
    }

    private static async Task<TransferJob> WaitEndAsync(HttpClient client, string id)
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            var job = (await client.GetFromJsonAsync($"/v1/transfers/{id}", TransferJsonContext.Default.TransferJob, Ct))!;
            if (job.State is "done" or "failed")
            {
                return job;
            }

            Assert.True(DateTime.UtcNow < until, $"transfer {id} is still {job.State}");
            await Task.Delay(50, Ct);
        }
    }

    private long StoredTokens(string id)
    {
        using var connection = new SqliteConnection($"Data Source={Path.Combine(_work, "queue", "transfers.db")};Pooling=false");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT (source_token IS NOT NULL) + (destination_token IS NOT NULL) FROM transfers WHERE id = $id";
        command.Parameters.AddWithValue("$id", id);
        return (long)command.ExecuteScalar()!;
    }

    [Fact]
    public async Task QueuedCopy_ServiceRestarts_GoesOnWithItsTokensAndForgetsThemWhenDone()
    {
        var data = RandomNumberGenerator.GetBytes(3_000_000);
        await using var source = await SourceAsync(data);
        var port = Loopback.FreePort();
        var destinationKey = Path.Combine(_work, "destination.key");
        var destinationToken = new Shoppe.Security.TokenIssuer(new Shoppe.Security.ShoppeSecurityOptions { SigningKeyFile = destinationKey }, TimeProvider.System)
            .Issue("alice", [], TimeSpan.FromHours(1), "storage.modify:/");
        var id = await QueueCopyToADownDestinationAsync(source, port, destinationToken);
        Assert.Equal(2, StoredTokens(id));
        // Kept encrypted: neither token is in the store in clear.
        foreach (var file in Directory.EnumerateFiles(Path.Combine(_work, "queue"), "transfers.db*"))
        {
            var bytes = await File.ReadAllBytesAsync(file, Ct);
            Assert.Equal(-1, bytes.AsSpan().IndexOf(System.Text.Encoding.UTF8.GetBytes(destinationToken)));
        }

        // The destination comes up (with its own signing key: only the kept token opens it), then the queue restarts.
        await using var destination = new TransferServiceFactory(Path.Combine(_work, "destination"), destinationKey, port: port);
        _ = destination.Url;
        await using var queue = Queue();
        using var client = queue.ClientWith(null);
        var job = await WaitEndAsync(client, id);

        Assert.True(job.State == "done", job.Error);
        Assert.Equal(2, job.Attempts);
        Assert.Equal(data, await File.ReadAllBytesAsync(Path.Combine(destination.Storage, "copy.bin"), Ct));
        Assert.Equal(0, StoredTokens(id));
    }

    [Fact]
    public async Task QueuedCopy_KeysLostAcrossTheRestart_FailsSayingWhy()
    {
        await using var source = await SourceAsync(new byte[1000]);
        var id = await QueueCopyToADownDestinationAsync(source, Loopback.FreePort(), "some-token");
        Directory.Delete(Path.Combine(_work, "queue", "data-protection-keys"), recursive: true);

        await using var queue = Queue();
        using var client = queue.ClientWith(null);
        var job = await WaitEndAsync(client, id);

        Assert.Equal("failed", job.State);
        Assert.Contains("could not read this copy's tokens back", job.Error, StringComparison.Ordinal);
        Assert.Equal(0, StoredTokens(id));
    }
}
