using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Shoppe.Delivery.Tasks;
using Shoppe.Delivery.Transforms;
using Shoppe.Security;
using Shoppe.Workflow.Pilots;

namespace Shoppe.Delivery.Tests;

/// <summary>
/// The pilots' side of the delivery service, with pilots running in this process against the real service: who
/// may take which files, what happens to a result or an output without its lease, and an older pilot that cannot
/// run file tasks.
/// </summary>
public sealed class PilotsApiTests : IAsyncLifetime
{
    private readonly string _dataRoot = Directory.CreateTempSubdirectory("shoppe-delivery-pilots-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync() => await TestFolders.DeleteAsync(_dataRoot);

    /// <summary>A service whose own workers are off: only pilots run files.</summary>
    private DeliveryServiceFactory Service() => new(_dataRoot, new Dictionary<string, string?> { ["Delivery:Workers"] = "0", ["Delivery:LeaseSeconds"] = "2" });

    private static async Task<string> SubmitAsync(HttpClient client, int files)
    {
        using var response = await client.PostAsJsonAsync("/v1/transforms", new { dataset = Enumerable.Repeat(Samples.Dimuon, files), columns = new[] { "MET_pt" } }, Ct);
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync(Ct));
        return (await response.Content.ReadFromJsonAsync<TransformCreated>(Ct))!.RequestId;
    }

    private static PilotExchange Exchange(string pilot, int want, IReadOnlyList<JobResult>? results = null, IReadOnlyList<string>? tasks = null) =>
        new(pilot, want, [], results ?? [], Tasks: tasks ?? [PilotFileTask.Kind]);

    private static async Task<PilotAssignment> ExchangeAsync(HttpClient client, PilotExchange exchange)
    {
        using var response = await client.PostAsJsonAsync("/v1/pilots/exchange", exchange, PilotJsonContext.Default.PilotExchange, Ct);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync(Ct));
        return (await response.Content.ReadFromJsonAsync(PilotJsonContext.Default.PilotAssignment, Ct))!;
    }

    [Fact]
    public async Task UsersOwnPilot_RunsOnlyTheirFiles_AndTheTransformCompletes()
    {
        await using var service = Service();
        using var alice = service.ClientFor("alice");
        using var bob = service.ClientFor("bob");
        var alices = await SubmitAsync(alice, 3);
        var bobs = await SubmitAsync(bob, 2);

        // Bob's own pilot (his token, no pilot role), in this process: it takes his files, never alice's.
        using var files = new PilotFileTask();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        using var runner = new PilotRunner(new PilotOptions
        {
            Server = service.Server.BaseAddress,
            Token = service.Token("bob"),
            Cores = 2,
            WorkDirectory = Path.Combine(_dataRoot, "bob-pilot"),
            LongPoll = TimeSpan.FromSeconds(1),
            Tasks = new Dictionary<string, IPilotTask> { [PilotFileTask.Kind] = files },
        }, service.Server.CreateHandler());
        var running = runner.RunAsync(stop.Token);

        var status = await DeliveryServiceFactory.WaitAsync(bob, bobs);
        Assert.Equal((TransformStates.Complete, 2), (status.State, status.FilesDone));
        var untouched = (await alice.GetFromJsonAsync<TransformStatus>($"/v1/transforms/{alices}", Ct))!;
        Assert.Equal((TransformStates.Submitted, 0), (untouched.State, untouched.FilesDone));
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => running);
        // Bob's outputs are whole files in his request's folder, made by the service from the pilot's uploads.
        var outputs = Directory.GetFiles(Path.Combine(_dataRoot, "outputs", bobs));
        Assert.Equal(2, outputs.Length);
        Assert.All(outputs, o => Assert.EndsWith(".parquet", o, StringComparison.Ordinal));
    }

    [Fact]
    public async Task ResultsAndOutputsWithoutTheLease_AreRefused_AndAnExpiredLeaseRunsAgain()
    {
        await using var service = Service();
        using var alice = service.ClientFor("alice");
        var id = await SubmitAsync(alice, 1);
        using var pilot = service.ClientWithToken(service.Token("facility", ShoppeClaims.PilotRole));

        var first = await ExchangeAsync(pilot, Exchange("pilot-one", 1));
        var job = Assert.Single(first.Jobs);
        Assert.Equal($"{id}/0", job.Id);
        var spec = job.Task!.Spec.Deserialize(FileTaskJsonContext.Default.FileTaskSpec)!;
        Assert.Equal((Samples.Dimuon, 1), (spec.Input, spec.Attempt));

        // Another pilot's upload for this file, or one naming another attempt, is refused.
        foreach (var query in new[] { "pilot=pilot-two&attempt=1", "pilot=pilot-one&attempt=2" })
        {
            using var content = new ByteArrayContent([1, 2, 3]);
            using var request = new HttpRequestMessage(HttpMethod.Put, $"/v1/pilots/files/{id}/0?{query}") { Content = content };
            request.Headers.Add(PilotFileTask.CommitHeader, """{"eventsIn":40,"eventsOut":40,"bytesIn":1,"seconds":0.1}""");
            using var response = await pilot.SendAsync(request, Ct);
            Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        }

        // pilot-one goes silent: after the lease (2 s) the file is another pilot's, attempt 2, and pilot-one's late
        // failure report is rejected rather than recorded.
        PilotAssignment second = new([], [], 0, []);
        await Poll.UntilAsync(async () => (second = await ExchangeAsync(pilot, Exchange("pilot-two", 1))).Jobs.Count == 1, TimeSpan.FromSeconds(20), "the lease to expire", Ct);
        Assert.Equal(2, second.Jobs[0].Attempt);
        var late = await ExchangeAsync(pilot, Exchange("pilot-one", 0, [new JobResult(job.Id, 1, false, null, "too late", null, 1)]));
        Assert.Equal(job.Id, Assert.Single(late.Rejected).Id);
        var files = (await alice.GetFromJsonAsync<TransformFileStatus[]>($"/v1/transforms/{id}/files", Ct))!;
        Assert.Equal((FileStates.Running, 2), (files[0].State, files[0].Attempts));
        Assert.Equal("pilot-two", files[0].Worker);
        Assert.DoesNotContain("too late", files[0].Error ?? "", StringComparison.Ordinal);
    }

    [Fact]
    public async Task PilotThatCannotRunFileTasks_GetsNone_AndAnonymousCallersAreRefused()
    {
        await using var service = Service();
        using var alice = service.ClientFor("alice");
        await SubmitAsync(alice, 1);
        using var pilot = service.ClientWithToken(service.Token("facility", ShoppeClaims.PilotRole));

        var assignment = await ExchangeAsync(pilot, Exchange("old-pilot", 1, tasks: []) with { WaitSeconds = 0 });
        Assert.Empty(assignment.Jobs);

        using var anonymous = service.CreateClient();
        using var response = await anonymous.PostAsJsonAsync("/v1/pilots/exchange", Exchange("p", 1), PilotJsonContext.Default.PilotExchange, Ct);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);

        // The service's own workers' names are not for pilots to take.
        using var impostor = await pilot.PostAsJsonAsync("/v1/pilots/exchange", Exchange(TransformRunner.HolderPrefix + "x", 1), PilotJsonContext.Default.PilotExchange, Ct);
        Assert.Equal(HttpStatusCode.BadRequest, impostor.StatusCode);
    }

    [Fact]
    public async Task AUsersPilot_CannotActAsAnotherPilot_NorSeeTheServicesCacheToken()
    {
        await using var origin = new TestOrigin();
        origin.Write("nanoaod/nano_dy.parquet", await File.ReadAllBytesAsync(Samples.DrellYan, Ct));
        await origin.StartAsync();
        await using var service = new DeliveryServiceFactory(_dataRoot, new Dictionary<string, string?>
        {
            ["Delivery:Workers"] = "0",
            ["Delivery:CacheUrl"] = origin.Url,
            ["Delivery:CacheToken"] = "the-service-s-own",
        });
        using var alice = service.ClientFor("alice");
        using var submitted = await alice.PostAsJsonAsync("/v1/transforms", new { dataset = new[] { "/nanoaod/nano_dy.parquet" }, columns = new[] { "MET_pt" } }, Ct);
        Assert.True(submitted.IsSuccessStatusCode, await submitted.Content.ReadAsStringAsync(Ct));
        var id = (await submitted.Content.ReadFromJsonAsync<TransformCreated>(Ct))!.RequestId;

        // A facility pilot takes the file: its spec says where the file is on the cache, never with the service's token.
        using var facility = service.ClientWithToken(service.Token("facility", ShoppeClaims.PilotRole));
        var job = Assert.Single((await ExchangeAsync(facility, Exchange("p1", 1))).Jobs);
        var spec = job.Task!.Spec.Deserialize(FileTaskJsonContext.Default.FileTaskSpec)!;
        Assert.Equal(("/nanoaod/nano_dy.parquet", null), (spec.Access.CachePath, spec.Access.CacheToken));

        // Bob's own pilot, naming itself "p1", neither fails nor releases p1's lease on alice's file.
        using var bob = service.ClientFor("bob");
        var forged = await ExchangeAsync(bob, Exchange("p1", 0, [new JobResult(job.Id, job.Attempt, false, null, "forged", null, 0)]) with { Released = [new JobLease(job.Id, job.Attempt)] });
        Assert.Equal(job.Id, Assert.Single(forged.Rejected).Id);
        var file = (await alice.GetFromJsonAsync<TransformFileStatus[]>($"/v1/transforms/{id}/files", Ct))![0];
        Assert.Equal((FileStates.Running, 1, "p1"), (file.State, file.Attempts, file.Worker));
        Assert.Null(file.Error);
    }
}
