using DotNet.Testcontainers.Builders;
using DotNet.Testcontainers.Containers;
using DotNet.Testcontainers.Images;
using Microsoft.Extensions.Logging.Abstractions;

namespace Shoppe.Conformance;

/// <summary>
/// The facility as containers, through Testcontainers: each service's image is built from its published
/// artifact on a locally built Debian base image (<c>$SHOPPE_BASE_IMAGE</c>, default <c>shoppe/runtime-deps:bookworm</c>;
/// eng/docker-base-image.sh builds it without a registry), run with host networking so all traffic stays on
/// loopback, the run folder mounted at the same path. Where no Docker engine is reachable it is "not applicable".
/// </summary>
public sealed partial class ContainerEnvironment : OwnedFacility
{
    private readonly string _unpackedFolder;
    private readonly string _stackVersion;
    private readonly Dictionary<string, IFutureDockerImage> _images = new(StringComparer.Ordinal);
    private readonly Dictionary<string, IContainer> _containers = new(StringComparer.Ordinal);

    /// <summary>Services from unpacked release artifacts (<c>&lt;artifacts&gt;/&lt;name&gt;/</c>).</summary>
    /// <param name="unpackedFolder">The unpacked artifacts.</param>
    /// <param name="samplesFolder">The NanoAOD samples seeded into the origin.</param>
    /// <param name="runFolder">Where the facility's state lives (mounted into every container at the same path).</param>
    /// <param name="stackVersion">The images' tag.</param>
    /// <param name="dockerHost">The engine (<c>unix:///…</c>); by default <c>$DOCKER_HOST</c>, else /var/run/docker.sock.</param>
    public ContainerEnvironment(string unpackedFolder, string samplesFolder, string runFolder, string stackVersion, string? dockerHost = null)
        : base(runFolder, samplesFolder)
    {
        _unpackedFolder = unpackedFolder;
        _stackVersion = stackVersion;
        _dockerHost = dockerHost ?? Environment.GetEnvironmentVariable("DOCKER_HOST");
    }

    private readonly string? _dockerHost;

    /// <summary>Each service's image name in the engine (<c>shoppe/cache:0.1.0</c>), once built: a release exports them.</summary>
    public Dictionary<string, string> ImageNames { get; } = new(StringComparer.Ordinal);

    /// <summary>The engine the images are built in (<c>unix:///…</c>).</summary>
    public string DockerEndpoint => string.IsNullOrEmpty(_dockerHost) ? "unix:///var/run/docker.sock" : _dockerHost;

    /// <summary>
    /// The numeric user the images run as (not root; numeric, so Kubernetes' runAsNonRoot can check it). Their files are
    /// root's and read-only to it: a read-only root filesystem changes nothing for them.
    /// </summary>
    public const string ImageUser = "10001:10001";

    /// <summary>The base image the service images are built on.</summary>
    public static string BaseImage => Environment.GetEnvironmentVariable("SHOPPE_BASE_IMAGE") is { Length: > 0 } image ? image : "shoppe/runtime-deps:bookworm";

    /// <inheritdoc/>
    public override string Target => "containers";

    /// <inheritdoc/>
    public override string? NotApplicableReason => string.IsNullOrEmpty(_dockerHost)
        ? File.Exists("/var/run/docker.sock") ? null : "no Docker engine: DOCKER_HOST is not set and /var/run/docker.sock does not exist (eng/docker-engine.sh starts one)"
        : _dockerHost.StartsWith("unix://", StringComparison.Ordinal) && !File.Exists(_dockerHost["unix://".Length..])
            ? $"no Docker engine: nothing listens at {_dockerHost} (eng/docker-engine.sh starts one)"
            : null;

    /// <inheritdoc/>
    protected override async Task PrepareAsync(IProgress<string> progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(progress);
        // The CLI's image too: a site's pilots run it (shoppe pilot); the suite runs only the services.
        foreach (var component in FacilityComponents.All)
        {
            var context = Path.Combine(_unpackedFolder, component.Name);
            await File.WriteAllTextAsync(Path.Combine(context, "Dockerfile"),
                $"FROM {BaseImage}\nCOPY . /app\nWORKDIR /app\nUSER {ImageUser}\nENTRYPOINT [\"/app/{component.Assembly}\"]\n", cancellationToken);
            progress.Report($"Building the image of {component.Name} on {BaseImage}");
            var image = new ImageFromDockerfileBuilder()
                .WithDockerfileDirectory(context)
                .WithDockerfile("Dockerfile")
                .WithName($"shoppe/{component.Name}:{_stackVersion}")
                .WithLogger(NullLogger.Instance) // the suite's progress lines say what happens
                .WithCleanUp(false)
                .WithDeleteIfExists(true)
                .Build();
            await image.CreateAsync(cancellationToken);
            _images[component.Name] = image;
            ImageNames[component.Name] = image.FullName;
        }
    }

    /// <inheritdoc/>
    protected override async Task StartServiceAsync(FacilityComponent component, IReadOnlyDictionary<string, string> environment, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(component);
        var log = Path.Combine(LogFolder, component.Name + ".log");
        var container = new ContainerBuilder(_images[component.Name])
            .WithLogger(NullLogger.Instance)
            .WithCreateParameterModifier(parameters =>
            {
                // Host networking keeps every byte on loopback; the caller's uid keeps the run folder theirs.
                parameters.HostConfig ??= new();
                parameters.HostConfig.NetworkMode = "host";
                parameters.User = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{NativeMethods.getuid()}:{NativeMethods.getgid()}");
            })
            .WithEnvironment(environment.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal))
            .WithBindMount(RunFolder, RunFolder)
            .WithOutputConsumer(Consume.RedirectStdoutAndStderrToStream(Shared(log), Shared(log + ".err")))
            .Build();
        await container.StartAsync(cancellationToken);
        _containers[component.Name] = container;
    }

    /// <summary>A log file others may read while the container writes it.</summary>
    private static FileStream Shared(string path) => new(path, FileMode.Create, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);

    /// <inheritdoc/>
    protected override string? Exited(string service) =>
        _containers.TryGetValue(service, out var container) && container.State == TestcontainersStates.Exited ? $"exited with code {container.GetExitCodeAsync().GetAwaiter().GetResult()}" : null;

    /// <inheritdoc/>
    public override async ValueTask DisposeAsync()
    {
        foreach (var container in _containers.Values.Reverse())
        {
            await container.DisposeAsync();
        }

        _containers.Clear();
        await base.DisposeAsync();
    }

    private static partial class NativeMethods
    {
        [System.Runtime.InteropServices.LibraryImport("libc")]
        internal static partial uint getuid();

        [System.Runtime.InteropServices.LibraryImport("libc")]
        internal static partial uint getgid();
    }
}
