using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;

[assembly: AssemblyFixture(typeof(Shoppe.AppHost.Tests.FacilityFixture))]

namespace Shoppe.AppHost.Tests;

/// <summary>
/// The whole facility, started once for the test assembly exactly as <c>dotnet run --project
/// aspire/Shoppe.AppHost</c> starts it, with its data (and its facility file, so the user's own is left alone) under
/// a fresh temporary folder.
/// </summary>
public sealed class FacilityFixture : IAsyncLifetime
{
    public static readonly string[] Services = ["logs", "cache", "transfer", "pushdown", "delivery", "workflow", "portal"];

    /// <summary>Start-up on a 2-core machine takes ~15 s; the margin covers a loaded CI run.</summary>
    public static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(3);

    private readonly string _dataRoot = Directory.CreateTempSubdirectory("shoppe-facility-").FullName;
    private DistributedApplication? _app;

    public DistributedApplication App => _app ?? throw new InvalidOperationException("The facility has not started.");

    public string DataRoot => _dataRoot;

    /// <summary>Where this facility writes its discovery file (the CLI's is left alone).</summary>
    public string FacilityFile => Path.Combine(_dataRoot, "facility.json");

    /// <summary>Each service's running instance (its console output is kept under that id).</summary>
    public IReadOnlyDictionary<string, string> InstanceIds { get; private set; } = new Dictionary<string, string>();

    public async ValueTask InitializeAsync()
    {
        using var cts = new CancellationTokenSource(StartTimeout);
        var builder = await DistributedApplicationTestingBuilder
            .CreateAsync<Projects.Shoppe_AppHost>([$"--Shoppe:DataRoot={_dataRoot}", $"--Shoppe:FacilityFile={FacilityFile}"], cts.Token)
            .WaitAsync(StartTimeout, cts.Token);
        _app = await builder.BuildAsync(cts.Token).WaitAsync(StartTimeout, cts.Token);
        await _app.StartAsync(cts.Token).WaitAsync(StartTimeout, cts.Token);
        var healthy = await Task.WhenAll(Services.Select(name =>
                _app.ResourceNotifications.WaitForResourceHealthyAsync(name, cts.Token)))
            .WaitAsync(StartTimeout, cts.Token);
        InstanceIds = healthy.ToDictionary(e => e.Resource.Name, e => e.ResourceId);
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.DisposeAsync();
        }

        try
        {
            Directory.Delete(_dataRoot, recursive: true);
        }
        catch (IOException)
        {
            // a service may still be letting go of a file; the folder is under the temp root
        }
    }
}
