using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Shoppe.Delivery.Transforms;
using Shoppe.Security;
using Shoppe.Testing.Hosting;

namespace Shoppe.Delivery.Tests;

/// <summary>
/// Delivery at a site's scale, with real processes: delivery instances sharing one real PostgreSQL, pilots
/// (<c>shoppe pilot</c>) taking the files from either, one pilot SIGKILLed with a file in hand; and pilots started
/// as jobs of a real one-node Slurm. The outputs are checked against DuckDB's reading of the inputs.
/// </summary>
public sealed class ScaleOutTests(PostgresServer postgres, SlurmCluster slurm) : IClassFixture<PostgresServer>, IClassFixture<SlurmCluster>, IAsyncLifetime
{
    private const string Filter = "MET_pt > 20";
    private static readonly string[] Columns = ["run", "luminosityBlock", "event", "MET_pt", "Muon_pt"];

    private readonly string _root = Directory.CreateTempSubdirectory("shoppe-delivery-scale-").FullName;
    private readonly ServiceProcesses _processes = new();
    private readonly TestOrigin _origin = new();
    private readonly List<string> _inputs = [];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string KeyFile => Path.Combine(_root, "signing.key");

    private string Outputs => Path.Combine(_root, "outputs");

    public async ValueTask InitializeAsync()
    {
        // Twelve files on an origin that sends each response at 600 kB/s: a file takes about a second, so pilots
        // are caught with files in hand.
        for (var i = 0; i < 12; i++)
        {
            var sample = i % 2 == 0 ? Samples.DrellYan : Samples.Dimuon;
            _origin.Write($"nanoaod/f{i:D2}.parquet", await File.ReadAllBytesAsync(sample, Ct));
            _inputs.Add(sample);
        }

        _origin.BytesPerSecond = 600_000;
        await _origin.StartAsync();
    }

    public async ValueTask DisposeAsync()
    {
        _processes.Dispose();
        await _origin.DisposeAsync();
        await TestFolders.DeleteAsync(_root);
    }

    private string Token(string user, params string[] roles) =>
        new TokenIssuer(new ShoppeSecurityOptions { SigningKeyFile = KeyFile }, TimeProvider.System).Issue(user, roles, TimeSpan.FromHours(1));

    private HttpClient Client(Uri url, string user)
    {
        var client = new HttpClient { BaseAddress = url };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token(user));
        return client;
    }

    /// <summary>A delivery instance with no workers of its own: the pilots do the work.</summary>
    private Task<(Process Process, Uri Url)> StartInstanceAsync(string name, Dictionary<string, string> store) =>
        _processes.StartServiceAsync("Shoppe.Delivery.dll", new Dictionary<string, string>(store)
        {
            ["Shoppe__DataRoot"] = Path.Combine(_root, name),
            ["Shoppe__Security__SigningKeyFile"] = KeyFile,
            ["Delivery__Workers"] = "0",
            ["Delivery__LeaseSeconds"] = "3",
            ["Delivery__RetryDelay"] = "00:00:00.200",
            ["Delivery__OutputRoot"] = Outputs,
            ["Delivery__AllowedRemotes__0"] = "127.0.0.1",
        }, Ct);

    private async Task<string> SubmitAsync(HttpClient client)
    {
        var urls = Enumerable.Range(0, _inputs.Count).Select(i => $"{_origin.Url}/nanoaod/f{i:D2}.parquet").ToArray();
        using var response = await client.PostAsJsonAsync("/v1/transforms", new { dataset = urls, columns = Columns, filter = Filter }, Ct);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync(Ct));
        return (await response.Content.ReadFromJsonAsync<TransformCreated>(Ct))!.RequestId;
    }

    /// <summary>The outputs, read back by DuckDB, are DuckDB's own selection over the inputs: every file once.</summary>
    private void AssertOutputsMatchDuckDb(string id, TransformStatus status)
    {
        var folder = Path.Combine(Outputs, id);
        var outputs = Directory.GetFiles(folder);
        // No partial output, no private work or upload file is left visible.
        Assert.All(outputs, o => Assert.False(Path.GetFileName(o).StartsWith('.'), $"{o} is left in the output folder"));
        Assert.Equal(_inputs.Count, outputs.Length);
        var list = string.Join(", ", _inputs.Select(i => $"'{i}'"));
        var expected = DuckDb.Query($"SELECT run::DOUBLE, luminosityBlock::DOUBLE, event::DOUBLE, MET_pt::DOUBLE, Muon_pt::DOUBLE[] FROM read_parquet([{list}]) WHERE {Filter} ORDER BY ALL");
        var actual = DuckDb.Query($"SELECT run::DOUBLE, luminosityBlock::DOUBLE, event::DOUBLE, MET_pt::DOUBLE, Muon_pt::DOUBLE[] FROM read_parquet('{folder}/*.parquet') ORDER BY ALL");
        DuckDb.AssertSame(expected, actual);
        Assert.Equal(expected.Count, status.EventsOut);
    }

    [Fact]
    public async Task ThreePilotsTwoInstancesOnPostgres_APilotKilledMidFile_EveryFileSucceedsOnceAndMatchesDuckDb()
    {
        if (postgres.Unavailable is { } why)
        {
            Assert.Skip(why);
        }

        var store = new Dictionary<string, string> { ["Delivery__Store"] = "postgres", ["ConnectionStrings__delivery"] = await postgres.CreateDatabaseAsync() };
        var (_, first) = await StartInstanceAsync("instance-a", store);
        var (_, second) = await StartInstanceAsync("instance-b", store);
        var pilotToken = Token("facility", ShoppeClaims.PilotRole);
        var pilots = new[] { first, first, second }.Select((server, i) => _processes.StartPilot([server], pilotToken, Path.Combine(_root, $"pilot-{i}"))).ToList();

        using var alice = Client(first, "alice");
        var id = await SubmitAsync(alice);

        // A file in a pilot's hands: kill that pilot (SIGKILL: no goodbye, no release).
        TransformFileStatus? held = null;
        Process? victim = null;
        await Poll.UntilAsync(async () =>
        {
            var files = (await alice.GetFromJsonAsync<TransformFileStatus[]>($"/v1/transforms/{id}/files", Ct))!;
            held = files.FirstOrDefault(f => f.State == FileStates.Running && f.Worker is not null);
            victim = held is null ? null : pilots.FirstOrDefault(p => held.Worker!.Contains($"-{p.Id}-", StringComparison.Ordinal));
            return victim is not null;
        }, TimeSpan.FromSeconds(60), "a pilot to hold a file", Ct);
        victim!.Kill();

        // Any instance answers for any transform.
        using var aliceElsewhere = Client(second, "alice");
        var status = await DeliveryServiceFactory.WaitAsync(aliceElsewhere, id, TimeSpan.FromSeconds(120));
        Assert.True(status.State == TransformStates.Complete, $"{status.State}: {string.Join("; ", status.Errors)}\n{_processes.Output}");
        Assert.Equal((_inputs.Count, 0), (status.FilesDone, status.FilesFailed));
        var after = (await alice.GetFromJsonAsync<TransformFileStatus[]>($"/v1/transforms/{id}/files", Ct))!;
        // The killed pilot's file went to another worker once its lease expired: a second attempt, one success.
        Assert.Equal(2, after[held!.Index].Attempts);
        Assert.Equal(FileStates.Done, after[held.Index].State);
        AssertOutputsMatchDuckDb(id, status);
    }

    [Fact]
    public async Task PilotsStartedAsSlurmJobs_RunATransformsFiles()
    {
        slurm.RequireAvailable();
        var (_, url) = await StartInstanceAsync("instance", []);
        using var alice = Client(url, "alice");
        var id = await SubmitAsync(alice);

        // Two pilots as batch jobs, as a site's pilot factory submits them: they leave once idle.
        var folder = slurm.CreateJobFolder();
        for (var i = 0; i < 2; i++)
        {
            var command = $"exec dotnet {Path.Combine(AppContext.BaseDirectory, "shoppe.dll")} pilot --server {url} --cores 1 --idle-exit 5 --work-dir {Path.Combine(folder, $"pilot-{i}")}";
            await PeerProcess.RunAsync("env", [$"SLURM_CONF={slurm.SlurmConf}", $"SHOPPE_TOKEN={Token("facility", ShoppeClaims.PilotRole)}", "sbatch", "--parsable",
                "--job-name=shoppe-pilot", "--cpus-per-task=1", $"--output={Path.Combine(folder, $"pilot-{i}.out")}", "--export=ALL", "--wrap", command], Ct);
        }

        var status = await DeliveryServiceFactory.WaitAsync(alice, id, TimeSpan.FromSeconds(180));
        var logs = string.Join('\n', Directory.GetFiles(folder, "*.out").Select(File.ReadAllText));
        Assert.True(status.State == TransformStates.Complete, $"{status.State}: {string.Join("; ", status.Errors)}\n{logs}\n{_processes.Output}");
        AssertOutputsMatchDuckDb(id, status);
        // The pilots' own output says where they ran: inside Slurm jobs.
        Assert.Contains("jobs from", logs, StringComparison.Ordinal);
    }
}
