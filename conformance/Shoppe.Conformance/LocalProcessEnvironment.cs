using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.Versioning;
using Shoppe.Security;

namespace Shoppe.Conformance;

/// <summary>
/// The facility as local processes, wired as the AppHost wires it (aspire/Shoppe.AppHost/Program.cs): every
/// service on 127.0.0.1 with its own data folder, one signing key, logs exported to the logs service, the cache
/// in front of a local origin folder seeded with the NanoAOD samples, delivery reading through the cache. The
/// services run from a release's unpacked artifacts or from a build's output.
/// </summary>
public sealed class LocalProcessEnvironment : FacilityEnvironment
{
    private readonly Func<FacilityComponent, ProcessStartInfo> launch;
    private readonly string runFolder;
    private readonly string samplesFolder;
    private readonly List<Process> processes = [];
    private readonly string signingKey;

    private LocalProcessEnvironment(Func<FacilityComponent, ProcessStartInfo> launch, string runFolder, string samplesFolder)
    {
        this.launch = launch;
        this.runFolder = Directory.CreateDirectory(runFolder).FullName;
        this.samplesFolder = samplesFolder;
        signingKey = Path.Combine(this.runFolder, "keys", "signing.key");
    }

    /// <summary>Services from unpacked release artifacts: <c>&lt;artifacts&gt;/&lt;name&gt;/&lt;Assembly&gt;</c> (self-contained executables).</summary>
    public static LocalProcessEnvironment FromArtifacts(string unpackedFolder, string runFolder, string samplesFolder) =>
        new(c => new ProcessStartInfo(Path.Combine(unpackedFolder, c.Name, c.Assembly)) { WorkingDirectory = Path.Combine(unpackedFolder, c.Name) },
            runFolder, samplesFolder);

    /// <summary>Services from a build: <c>&lt;project dir&gt;/bin/&lt;configuration&gt;/net10.0/&lt;Assembly&gt;.dll</c> run by <c>dotnet</c>.</summary>
    public static LocalProcessEnvironment FromBuild(string repositoryRoot, string configuration, string runFolder) =>
        new(c =>
        {
            var bin = Path.Combine(repositoryRoot, Path.GetDirectoryName(c.Project)!, "bin", configuration, "net10.0");
            return new ProcessStartInfo("dotnet", [Path.Combine(bin, c.Assembly + ".dll")]) { WorkingDirectory = bin };
        }, runFolder, Path.Combine(repositoryRoot, "conformance", "data", "nanoaod"));

    /// <inheritdoc/>
    public override string Target => "local";

    /// <summary>Where each service's console output is kept (<c>&lt;run&gt;/&lt;name&gt;.log</c>).</summary>
    public string LogFolder => Path.Combine(runFolder, "logs");

    /// <inheritdoc/>
    [UnsupportedOSPlatform("windows")]
    public override async Task StartAsync(IProgress<string> progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(progress);
        Directory.CreateDirectory(LogFolder);
        LocalSigningKey.LoadOrCreate(signingKey);
        OriginFolder = Directory.CreateDirectory(Path.Combine(runFolder, "origin")).FullName;
        var samples = SeedSamples();
        var ports = FacilityComponents.Services.ToDictionary(c => c.Name, _ => FreePort(), StringComparer.Ordinal);
        var urls = ports.ToDictionary(p => p.Key, p => new Uri($"http://127.0.0.1:{p.Value}/"), StringComparer.Ordinal);
        Services = urls;

        foreach (var component in FacilityComponents.Services)
        {
            var start = launch(component);
            if (!File.Exists(start.FileName) && start.FileName != "dotnet")
            {
                throw new InvalidOperationException($"{component.Name}: {start.FileName} does not exist.");
            }

            start.UseShellExecute = false;
            start.RedirectStandardOutput = true;
            start.RedirectStandardError = true;
            var env = start.Environment;
            env["ASPNETCORE_URLS"] = urls[component.Name].ToString().TrimEnd('/');
            env["ASPNETCORE_ENVIRONMENT"] = "Production";
            env["DOTNET_ENVIRONMENT"] = "Production";
            env["Shoppe__DataRoot"] = Path.Combine(runFolder, "data", component.Name);
            env["Shoppe__Security__SigningKeyFile"] = signingKey;
            if (component.Name != "logs")
            {
                env["Shoppe__Logs__Endpoint"] = urls["logs"].ToString().TrimEnd('/');
                env["Shoppe__Logs__Token"] = ServiceToken(component.Name);
            }

            foreach (var (name, url) in urls)
            {
                env[$"services__{name}__http__0"] = url.ToString().TrimEnd('/');
            }

            switch (component.Name)
            {
                case "cache":
                    env["Cache__Origins__0__Name"] = "facility";
                    env["Cache__Origins__0__Prefix"] = "/";
                    env["Cache__Origins__0__Directory"] = OriginFolder;
                    break;
                case "delivery":
                    env["Delivery__CacheUrl"] = urls["cache"].ToString().TrimEnd('/');
                    env["Delivery__CacheToken"] = ServiceToken("delivery");
                    for (var i = 0; i < samples.Count; i++)
                    {
                        env[$"Delivery__Datasets__{Dataset}__{i}"] = samples[i];
                    }

                    break;
            }

            progress.Report($"Starting {component.Name} on {urls[component.Name]}");
            var process = Process.Start(start) ?? throw new InvalidOperationException($"{component.Name} did not start.");
            processes.Add(process);
            var log = new StreamWriter(Path.Combine(LogFolder, component.Name + ".log")) { AutoFlush = true };
            process.OutputDataReceived += (_, e) => WriteLine(log, e.Data);
            process.ErrorDataReceived += (_, e) => WriteLine(log, e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            await WaitHealthyAsync(component.Name, process, urls[component.Name], cancellationToken);
        }
    }

    /// <inheritdoc/>
    public override string Token(string user, string? scope = null) =>
        new TokenIssuer(new ShoppeSecurityOptions { SigningKeyFile = signingKey }, TimeProvider.System)
            .Issue(user, [], TimeSpan.FromHours(2), scope);

    /// <summary>The last lines a service wrote, for a failure message.</summary>
    public string Tail(string service, int lines = 20)
    {
        var path = Path.Combine(LogFolder, service + ".log");
        return File.Exists(path) ? string.Join('\n', ReadShared(path).TakeLast(lines)) : "";
    }

    /// <inheritdoc/>
    public override async ValueTask DisposeAsync()
    {
        // Stop in reverse order (the portal before what it watches, the logs service last).
        foreach (var process in Enumerable.Reverse(processes))
        {
            try
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                    await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
                }
            }
            catch (Exception ex) when (ex is InvalidOperationException or TimeoutException or System.ComponentModel.Win32Exception)
            {
                // Already gone, or will be reaped by the system.
            }

            process.Dispose();
        }

        processes.Clear();
        await base.DisposeAsync();
    }

    private string ServiceToken(string service) =>
        new TokenIssuer(new ShoppeSecurityOptions { SigningKeyFile = signingKey }, TimeProvider.System)
            .Issue(service, [ShoppeClaims.ServiceRole], TimeSpan.FromDays(1));

    private List<string> SeedSamples()
    {
        var target = Directory.CreateDirectory(Path.Combine(OriginFolder!, "nanoaod")).FullName;
        var paths = new List<string>();
        foreach (var file in Directory.GetFiles(samplesFolder).Order(StringComparer.Ordinal))
        {
            File.Copy(file, Path.Combine(target, Path.GetFileName(file)), overwrite: true);
            if (file.EndsWith(".parquet", StringComparison.Ordinal))
            {
                paths.Add("/nanoaod/" + Path.GetFileName(file));
            }
        }

        return paths;
    }

    private async Task WaitHealthyAsync(string name, Process process, Uri url, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (DateTime.UtcNow < deadline)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"{name} exited with code {process.ExitCode} while starting:\n{Tail(name)}");
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

    private static void WriteLine(StreamWriter log, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (log)
        {
            log.WriteLine(line);
        }
    }

    private static List<string> ReadShared(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        var lines = new List<string>();
        while (reader.ReadLine() is { } line)
        {
            lines.Add(line);
        }

        return lines;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
