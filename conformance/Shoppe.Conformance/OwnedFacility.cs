using System.Net;
using System.Net.Sockets;
using Shoppe.Security;

namespace Shoppe.Conformance;

/// <summary>
/// A facility the suite starts itself, wired as the AppHost wires it (aspire/Shoppe.AppHost/Program.cs): every
/// service on 127.0.0.1 with its own data folder, one signing key, logs exported to the logs service, the cache
/// in front of a local origin folder seeded with the NanoAOD samples, delivery reading through the cache.
/// Subclasses say how one service is started (a local process, a container).
/// </summary>
public abstract class OwnedFacility : FacilityEnvironment
{
    private readonly string _samplesFolder;

    protected OwnedFacility(string runFolder, string samplesFolder)
    {
        RunFolder = Directory.CreateDirectory(runFolder).FullName;
        _samplesFolder = samplesFolder;
        SigningKey = Path.Combine(RunFolder, "keys", "signing.key");
    }

    /// <summary>Everything the facility writes lives under this folder.</summary>
    protected string RunFolder { get; }

    /// <summary>The facility's token signing key.</summary>
    protected string SigningKey { get; }

    /// <summary>Settings given to every service beside the facility's own wiring (they win over it), e.g. a site's identity provider.</summary>
    public IReadOnlyDictionary<string, string> Settings { get; init; } = new Dictionary<string, string>();

    /// <summary>A service's own data folder (<c>Shoppe:DataRoot</c>): <c>&lt;run&gt;/data/&lt;name&gt;</c>.</summary>
    public string DataFolder(string service) => Path.Combine(RunFolder, "data", service);

    /// <summary>Where each service's console output is kept (<c>&lt;run&gt;/logs/&lt;name&gt;.log</c>).</summary>
    public string LogFolder => Path.Combine(RunFolder, "logs");

    /// <inheritdoc/>
    public override async Task StartAsync(IProgress<string> progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(progress);
        Directory.CreateDirectory(LogFolder);
        LocalSigningKey.LoadOrCreate(SigningKey);
        OriginFolder = Directory.CreateDirectory(Path.Combine(RunFolder, "origin")).FullName;
        var samples = SeedSamples();
        var urls = FacilityComponents.Services.ToDictionary(c => c.Name, _ => new Uri($"http://127.0.0.1:{FreePort()}/"), StringComparer.Ordinal);
        Services = urls;
        await PrepareAsync(progress, cancellationToken);
        foreach (var component in FacilityComponents.Services)
        {
            progress.Report($"Starting {component.Name} on {urls[component.Name]}");
            await StartServiceAsync(component, Wiring(component, urls, samples), cancellationToken);
            await WaitHealthyAsync(component.Name, urls[component.Name], cancellationToken);
        }
    }

    /// <summary>Work before the first service starts (building images, …).</summary>
    protected virtual Task PrepareAsync(IProgress<string> progress, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Starts one service with its environment; <see cref="StartAsync"/> then waits for its health.</summary>
    protected abstract Task StartServiceAsync(FacilityComponent component, IReadOnlyDictionary<string, string> environment, CancellationToken cancellationToken);

    /// <summary>Why the service is gone, when it is (its exit code); null while it runs.</summary>
    protected abstract string? Exited(string service);

    /// <inheritdoc/>
    public override string Token(string user, string? scope = null) =>
        new TokenIssuer(new ShoppeSecurityOptions { SigningKeyFile = SigningKey }, TimeProvider.System).Issue(user, [], TimeSpan.FromHours(2), scope);

    /// <summary>The last lines a service wrote, for a failure message.</summary>
    public string Tail(string service, int lines = 20)
    {
        var path = Path.Combine(LogFolder, service + ".log");
        if (!File.Exists(path))
        {
            return "";
        }

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        var all = new List<string>();
        while (reader.ReadLine() is { } line)
        {
            all.Add(line);
        }

        return string.Join('\n', all.TakeLast(lines));
    }

    /// <summary>The environment of one service: the AppHost's wiring with this run's ports and folders.</summary>
    private Dictionary<string, string> Wiring(FacilityComponent component, IReadOnlyDictionary<string, Uri> urls, List<string> samples)
    {
        string Url(string name) => urls[name].ToString().TrimEnd('/');
        var env = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["ASPNETCORE_URLS"] = Url(component.Name),
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["DOTNET_ENVIRONMENT"] = "Production",
            ["Shoppe__DataRoot"] = DataFolder(component.Name),
            ["Shoppe__Security__SigningKeyFile"] = SigningKey,
        };
        if (component.Name != "logs")
        {
            env["Shoppe__Logs__Endpoint"] = Url("logs");
            env["Shoppe__Logs__Token"] = ServiceToken(component.Name);
        }

        foreach (var name in urls.Keys)
        {
            env[$"services__{name}__http__0"] = Url(name);
        }

        switch (component.Name)
        {
            case "cache":
                env["Cache__Origins__0__Name"] = "facility";
                env["Cache__Origins__0__Prefix"] = "/";
                env["Cache__Origins__0__Directory"] = OriginFolder!;
                break;
            case "delivery":
                env["Delivery__CacheUrl"] = Url("cache");
                env["Delivery__CacheToken"] = ServiceToken("delivery");
                for (var i = 0; i < samples.Count; i++)
                {
                    env[$"Delivery__Datasets__{Dataset}__{i}"] = samples[i];
                }

                break;
            case "pushdown":
                // Scans beside the same storage: the origin folder, the samples under nanoaod/.
                env["Pushdown__StorageRoots__0"] = OriginFolder!;
                env[$"Pushdown__Datasets__{Dataset}__0"] = "nanoaod";
                break;
        }

        foreach (var (key, value) in Settings)
        {
            env[key] = value;
        }

        return env;
    }

    /// <summary>A token of the facility's for one of its services (role <c>service</c>), as the AppHost gives each.</summary>
    public string ServiceToken(string service) =>
        new TokenIssuer(new ShoppeSecurityOptions { SigningKeyFile = SigningKey }, TimeProvider.System)
            .Issue(service, [ShoppeClaims.ServiceRole], TimeSpan.FromDays(1));

    private List<string> SeedSamples()
    {
        var target = Directory.CreateDirectory(Path.Combine(OriginFolder!, "nanoaod")).FullName;
        var paths = new List<string>();
        foreach (var file in Directory.GetFiles(_samplesFolder).Order(StringComparer.Ordinal))
        {
            File.Copy(file, Path.Combine(target, Path.GetFileName(file)), overwrite: true);
            if (file.EndsWith(".parquet", StringComparison.Ordinal))
            {
                paths.Add("/nanoaod/" + Path.GetFileName(file));
            }
        }

        return paths;
    }

    private async Task WaitHealthyAsync(string name, Uri url, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (DateTime.UtcNow < deadline)
        {
            if (Exited(name) is { } exited)
            {
                throw new InvalidOperationException($"{name} {exited} while starting:\n{Tail(name)}");
            }

            try
            {
                using var response = await http.GetAsync(new Uri(url, "health"), cancellationToken);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // Slow to answer while starting.
            }

            await Task.Delay(200, cancellationToken);
        }

        throw new TimeoutException($"{name} was not healthy at {url}health within 90 s:\n{Tail(name)}");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
