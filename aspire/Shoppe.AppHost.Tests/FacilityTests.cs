using System.Net;
using System.Net.Http.Json;
using System.Reflection;
using System.Text.Json;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Microsoft.Extensions.DependencyInjection;
using Shoppe.Security;

namespace Shoppe.AppHost.Tests;

public sealed class FacilityTests(FacilityFixture facility)
{
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(30);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>The stack version this build was stamped with, from the repository's VERSION file.</summary>
    private static string StackVersion => typeof(FacilityTests).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "ShoppeStackVersion").Value!;

    [Fact]
    public async Task EveryService_IsHealthyAndReportsItsVersion()
    {
        foreach (var name in FacilityFixture.Services)
        {
            using var client = facility.App.CreateHttpClient(name);

            using var health = await client.GetAsync("/health", Ct).WaitAsync(CallTimeout, Ct);
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);

            using var version = JsonDocument.Parse(await client.GetStringAsync("/version", Ct).WaitAsync(CallTimeout, Ct));
            Assert.Equal(name, version.RootElement.GetProperty("service").GetString());
            Assert.Equal(StackVersion, version.RootElement.GetProperty("stackVersion").GetString());
            Assert.Matches(@"^\d+\.\d+\.\d+", version.RootElement.GetProperty("version").GetString());
        }
    }

    [Fact]
    public void EveryServiceAndPilot_RunsFromItsBuildOutput_NotThroughDotnetRun()
    {
        // Each project resource runs its own built executable (what building the AppHost built, this configuration),
        // in its output folder; `dotnet run --project` evaluated and checked every project again at each start.
        var model = facility.App.Services.GetRequiredService<DistributedApplicationModel>();
        var projects = model.Resources.OfType<ProjectResource>().ToList();
        Assert.Equal(FacilityFixture.Services.Length + 1, projects.Count); // and the pilots
        foreach (var project in projects)
        {
            var executable = Assert.Single(project.Annotations.OfType<ExecutableAnnotation>()).Command;
            var expected = Path.Combine(Path.GetDirectoryName(project.GetProjectMetadata().ProjectPath)!, "bin", "Release", "net10.0");
            Assert.Equal(expected, Path.GetDirectoryName(executable));
            Assert.True(File.Exists(executable), $"{project.Name}: {executable} is not there");
        }

        // And no `dotnet run` of any of them is running (Linux: each process's command line).
        var running = Directory.GetDirectories("/proc").Select(d => Path.Combine(d, "cmdline"))
            .Select(f => { try { return File.ReadAllText(f).Split('\0'); } catch (IOException) { return []; } catch (UnauthorizedAccessException) { return []; } })
            .Where(args => args.Contains("run") && args.Contains("--project"))
            .SelectMany(args => args)
            .Where(arg => projects.Any(p => arg == p.GetProjectMetadata().ProjectPath))
            .ToList();
        Assert.Empty(running);
    }

    [Fact]
    public void EveryService_KeepsItsStateUnderTheConfiguredDataRoot()
    {
        // Each service's folder exists once it is healthy (its readiness check writes there), so the folders alone
        // prove nothing: the stores each service opens at start must be in its own folder under the facility's root.
        var stores = new Dictionary<string, string>
        {
            ["delivery"] = "delivery.db",
            ["logs"] = "logs.db",
            ["transfer"] = "transfers.db",
            ["cache"] = "blocks",
        };
        foreach (var (name, store) in stores)
        {
            var path = Path.Combine(facility.DataRoot, name, store);
            Assert.True(File.Exists(path) || Directory.Exists(path), $"{name} keeps no {store} under {facility.DataRoot}/{name}");
        }
    }

    [Fact]
    public async Task FacilityFile_NamesTheDataRootTheKeyEveryServiceTakesAndEachServicesUrl()
    {
        // Written once every service is ready, which may be a moment after the fixture saw them healthy.
        var deadline = DateTime.UtcNow + CallTimeout;
        while (!File.Exists(facility.FacilityFile) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(100), Ct);
        }

        var written = LocalFacility.Read(facility.FacilityFile);
        Assert.NotNull(written);
        Assert.Equal(facility.DataRoot, written.DataRoot);
        Assert.Equal(FacilityFixture.Services.Order(), written.Services.Keys.Order());
        foreach (var name in FacilityFixture.Services)
        {
            Assert.Equal(facility.App.GetEndpoint(name, "http"), new Uri(written.Services[name]));
        }

        // The key it names is the facility's: a token minted with it, with a storage scope, may write to the transfer
        // service's storage at the URL it names; the same token without the scope may not.
        var options = new ShoppeSecurityOptions { SigningKeyFile = written.SigningKeyFile };
        using var storage = new HttpClient { BaseAddress = new Uri(written.Services["transfer"]) };
        foreach (var (scope, expected) in new[] { ("storage.create:/facility-file", HttpStatusCode.Created), ((string?)null, HttpStatusCode.Forbidden) })
        {
            using var put = new HttpRequestMessage(HttpMethod.Put, $"/facility-file/{Guid.NewGuid():N}") { Content = new ByteArrayContent("x"u8.ToArray()) };
            put.Headers.Authorization = new("Bearer", new TokenIssuer(options, TimeProvider.System).Issue("alice", [], TimeSpan.FromMinutes(5), scope));
            using var response = await storage.SendAsync(put, Ct).WaitAsync(CallTimeout, Ct);
            Assert.Equal(expected, response.StatusCode);
        }
    }

    [Fact]
    public async Task UnknownRoute_OnAnyService_IsAProblem_404_Or401InAStorageNamespace()
    {
        foreach (var name in FacilityFixture.Services)
        {
            using var client = facility.App.CreateHttpClient(name);
            using var response = await client.GetAsync("/v1/not-yet-built", Ct).WaitAsync(CallTimeout, Ct);

            // The cache's and the transfer storage's namespaces are every path: without a token nothing there, found
            // or not, is answered.
            Assert.Equal(name is "cache" or "transfer" ? HttpStatusCode.Unauthorized : HttpStatusCode.NotFound, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        }
    }

    [Fact]
    public async Task RequestId_SentToThePortal_IsPropagatedToEveryServiceItCalls()
    {
        var requestId = $"facility-thread-{Guid.NewGuid():N}";
        var downstream = FacilityFixture.Services.Where(s => s != "portal").ToArray();
        using var portal = facility.App.CreateHttpClient("portal");
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/services");
        request.Headers.Add("X-Shoppe-Request-Id", requestId);
        using var response = await portal.SendAsync(request, Ct).WaitAsync(CallTimeout, Ct);

        response.EnsureSuccessStatusCode();
        Assert.Equal(requestId, Assert.Single(response.Headers.GetValues("X-Shoppe-Request-Id")));
        var statuses = await response.Content.ReadFromJsonAsync<JsonElement[]>(Ct);
        Assert.NotNull(statuses);
        Assert.Equal(downstream.Order(), statuses.Select(s => s.GetProperty("name").GetString()!).Order());
        Assert.All(statuses, s => Assert.Equal("healthy", s.GetProperty("state").GetString()));

        // Each downstream service's own log output holds an access line under the portal caller's request id.
        var loggers = facility.App.Services.GetRequiredService<ResourceLoggerService>();
        foreach (var service in downstream)
        {
            var line = await FindLogLineAsync(loggers, facility.InstanceIds[service], requestId);
            Assert.True(line is not null, $"{service} never logged a request under {requestId}");
            Assert.Contains("GET /version -> 200", line, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task PortalPage_ShowsEveryServiceHealthy()
    {
        using var portal = facility.App.CreateHttpClient("portal");
        var html = await portal.GetStringAsync("/", Ct).WaitAsync(CallTimeout, Ct);

        foreach (var name in FacilityFixture.Services.Where(s => s != "portal"))
        {
            Assert.Contains($"data-service=\"{name}\" data-state=\"healthy\"", html, StringComparison.Ordinal);
        }

        Assert.Contains($"release {StackVersion}", html, StringComparison.Ordinal);
    }

    /// <summary>Polls a resource's captured console output: lines reach the app host a little after they are written.</summary>
    private static async Task<string?> FindLogLineAsync(ResourceLoggerService loggers, string instanceId, string requestId)
    {
        var deadline = DateTime.UtcNow + CallTimeout;
        while (DateTime.UtcNow < deadline)
        {
            // A project's console output is kept under its running instance's id (e.g. "logs-xk2f9a").
            await foreach (var batch in loggers.GetAllAsync(instanceId).WithCancellation(Ct))
            {
                foreach (var line in batch)
                {
                    if (line.Content.Contains("Shoppe.Access", StringComparison.Ordinal)
                        && line.Content.Contains(requestId, StringComparison.Ordinal))
                    {
                        return line.Content;
                    }
                }
            }

            await Task.Delay(TimeSpan.FromMilliseconds(250), Ct);
        }

        return null;
    }
}
