using System.Net.Http.Json;
using Shoppe.Delivery.Transforms;

namespace Shoppe.Delivery.Tests;

/// <summary>Fair sharing between users, and resuming after a restart, on SQLite and on a real PostgreSQL.</summary>
public sealed class ExecutionTests(PostgresServer postgres) : IClassFixture<PostgresServer>, IAsyncLifetime
{
    private readonly string _dataRoot = Directory.CreateTempSubdirectory("shoppe-delivery-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync() => await TestFolders.DeleteAsync(_dataRoot);

    private async Task<Dictionary<string, string?>> StoreAsync(string store)
    {
        var settings = new Dictionary<string, string?> { ["Delivery:Workers"] = "1" };
        if (store == "postgres")
        {
            if (postgres.Unavailable is { } why)
            {
                Assert.Skip(why);
            }

            settings["Delivery:Store"] = "postgres";
            settings["ConnectionStrings:delivery"] = await postgres.CreateDatabaseAsync();
        }

        return settings;
    }

    private static async Task<string> SubmitAsync(HttpClient client, int files, string[] columns)
    {
        using var response = await client.PostAsJsonAsync("/v1/transforms", new { dataset = Enumerable.Repeat(Samples.Dimuon, files), columns }, Ct);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<TransformCreated>(Ct))!.RequestId;
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task TwoUsers_OnesHugeRequestDoesNotStarveTheOthersSmallOne(string store)
    {
        await using var service = new DeliveryServiceFactory(_dataRoot, await StoreAsync(store));
        using var alice = service.ClientFor("alice");
        using var bob = service.ClientFor("bob");
        var big = await SubmitAsync(alice, 300, ["Muon_pt", "Jet_pt", "MET_pt"]);
        // Alice's work has begun (the workers are hers) before bob asks.
        await Poll.ForAsync(() => alice.GetFromJsonAsync<TransformStatus>($"/v1/transforms/{big}", Ct), s => s!.FilesDone > 0, TimeSpan.FromSeconds(30), "alice's first file", Ct);

        var small = await SubmitAsync(bob, 1, ["MET_pt"]);
        var bobs = await DeliveryServiceFactory.WaitAsync(bob, small);
        var alices = (await alice.GetFromJsonAsync<TransformStatus>($"/v1/transforms/{big}", Ct))!;

        Assert.Equal(TransformStates.Complete, bobs.State);
        Assert.True(alices.FilesRemaining > 200, $"bob's 1-file request waited for {alices.FilesDone} of alice's files");
        await alice.DeleteAsync($"/v1/transforms/{big}", Ct);
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task Restart_ResumesUnfinishedFilesAndKeepsFinishedOnes(string store)
    {
        var settings = await StoreAsync(store);
        string id;
        Dictionary<int, double?> doneBefore;
        await using (var first = new DeliveryServiceFactory(_dataRoot, settings))
        {
            using var client = first.ClientFor("alice");
            id = await SubmitAsync(client, 60, ["Muon_pt", "Jet_pt", "MET_pt"]);
            await Poll.ForAsync(() => client.GetFromJsonAsync<TransformStatus>($"/v1/transforms/{id}", Ct), s => s!.FilesDone >= 3, TimeSpan.FromSeconds(60), "three files done", Ct);

            var files = (await client.GetFromJsonAsync<TransformFileStatus[]>($"/v1/transforms/{id}/files", Ct))!;
            doneBefore = files.Where(f => f.State == FileStates.Done).ToDictionary(f => f.Index, f => f.Seconds);
        } // the service stops mid-transform

        await using var second = new DeliveryServiceFactory(_dataRoot, settings);
        using var again = second.ClientFor("alice");
        var final = await DeliveryServiceFactory.WaitAsync(again, id);

        Assert.Equal(TransformStates.Complete, final.State);
        Assert.Equal(60, final.FilesDone);
        Assert.Equal(60 * 40, final.EventsIn);
        var after = (await again.GetFromJsonAsync<TransformFileStatus[]>($"/v1/transforms/{id}/files", Ct))!;
        foreach (var (index, seconds) in doneBefore)
        {
            // Not redone: the same attempt and timings as before the restart.
            Assert.Equal(1, after[index].Attempts);
            Assert.Equal(seconds, after[index].Seconds);
        }

        Assert.Equal(60, Directory.GetFiles(final.Destination).Length);
        Assert.Empty(Directory.GetFiles(final.Destination, "*.partial"));
    }
}
