using System.Diagnostics;

namespace Shoppe.Conformance;

/// <summary>The facility as local processes (no Docker needed), from a release's unpacked artifacts or a build's output.</summary>
public sealed class LocalProcessEnvironment : OwnedFacility
{
    private readonly Func<FacilityComponent, ProcessStartInfo> _launch;
    private readonly Dictionary<string, Process> _processes = new(StringComparer.Ordinal);

    private LocalProcessEnvironment(Func<FacilityComponent, ProcessStartInfo> launch, string runFolder, string samplesFolder)
        : base(runFolder, samplesFolder) => _launch = launch;

    /// <summary>Services from unpacked release artifacts: <c>&lt;artifacts&gt;/&lt;name&gt;/&lt;Assembly&gt;</c> (self-contained executables).</summary>
    public static LocalProcessEnvironment FromArtifacts(string unpackedFolder, string runFolder, string samplesFolder) =>
        new(c => new ProcessStartInfo(Path.Combine(unpackedFolder, c.Name, c.Assembly)) { WorkingDirectory = Path.Combine(unpackedFolder, c.Name) },
            runFolder, samplesFolder);

    /// <summary>
    /// Services from a build: <c>&lt;project dir&gt;/bin/&lt;configuration&gt;/net10.0/&lt;Assembly&gt;.dll</c> run by <c>dotnet</c>,
    /// with <paramref name="settings"/> given to every one of them (<see cref="OwnedFacility.Settings"/>).
    /// </summary>
    public static LocalProcessEnvironment FromBuild(string repositoryRoot, string configuration, string runFolder, IReadOnlyDictionary<string, string>? settings = null) =>
        new(c =>
        {
            var bin = Path.Combine(repositoryRoot, Path.GetDirectoryName(c.Project)!, "bin", configuration, "net10.0");
            return new ProcessStartInfo("dotnet", [Path.Combine(bin, c.Assembly + ".dll")]) { WorkingDirectory = bin };
        }, runFolder, Path.Combine(repositoryRoot, "conformance", "data", "nanoaod"))
        {
            Settings = settings ?? new Dictionary<string, string>(),
        };

    /// <inheritdoc/>
    public override string Target => "local";

    /// <inheritdoc/>
    protected override Task StartServiceAsync(FacilityComponent component, IReadOnlyDictionary<string, string> environment, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(component);
        ArgumentNullException.ThrowIfNull(environment);
        var start = _launch(component);
        var program = start.FileName == "dotnet" ? start.ArgumentList[0] : start.FileName;
        if (!File.Exists(program))
        {
            throw new InvalidOperationException($"{component.Name}: {program} does not exist.");
        }

        start.UseShellExecute = false;
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        // The services get the facility's settings, not the caller's secrets.
        foreach (var secret in new[] { "GITHUB_TOKEN", "SHOPPE_TOKEN", "SHOPPE_RELEASE_KEY" })
        {
            start.Environment.Remove(secret);
        }

        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException($"{component.Name} did not start.");
        _processes[component.Name] = process;
        var log = new StreamWriter(Path.Combine(LogFolder, component.Name + ".log")) { AutoFlush = true };
        process.OutputDataReceived += (_, e) => WriteLine(log, e.Data);
        process.ErrorDataReceived += (_, e) => WriteLine(log, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    protected override string? Exited(string service) =>
        _processes.TryGetValue(service, out var process) && process.HasExited ? $"exited with code {process.ExitCode}" : null;

    /// <inheritdoc/>
    public override async ValueTask DisposeAsync()
    {
        // Stop in reverse order (the portal before what it watches, the logs service last).
        foreach (var process in _processes.Values.Reverse())
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

        _processes.Clear();
        await base.DisposeAsync();
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
}
