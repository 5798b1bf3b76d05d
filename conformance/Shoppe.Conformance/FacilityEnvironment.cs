namespace Shoppe.Conformance;

/// <summary>
/// Where the suite runs: a facility it starts (local processes, containers) or one that exists (a deployment by
/// URL). It gives each service's base URL, tokens, and — where the suite owns the facility — its origin folder.
/// </summary>
public abstract class FacilityEnvironment : IAsyncDisposable
{
    /// <summary>The target's name in results: <c>local</c>, <c>containers</c>, or the deployment's URL.</summary>
    public abstract string Target { get; }

    /// <summary>Each service's base URL, by name, once started.</summary>
    public IReadOnlyDictionary<string, Uri> Services { get; protected set; } = new Dictionary<string, Uri>();

    /// <summary>
    /// The folder behind the cache's origin, when the suite owns it (gates put their probe files there); null for
    /// a deployment, whose gates use <see cref="CacheProbePath"/> instead.
    /// </summary>
    public string? OriginFolder { get; protected set; }

    /// <summary>A large file already under the cache (a deployment names one), for the cache gates.</summary>
    public string? CacheProbePath { get; init; }

    /// <summary>The dataset the end-to-end delivery reads, and how many events it holds (null: unknown).</summary>
    public string Dataset { get; init; } = "nanoaod-samples";

    /// <summary>The events in <see cref="Dataset"/>, when known (the repository's samples hold 80).</summary>
    public long? DatasetEvents { get; init; } = 80;

    /// <summary>Whether <see cref="Token"/> mints tokens for any user and scope (false: it hands out the one it was given).</summary>
    public virtual bool MintsTokens => true;

    /// <summary>Why this environment cannot run here (no Docker engine, …), or null.</summary>
    public virtual string? NotApplicableReason => null;

    /// <summary>Starts the facility, or connects to it; throws with the reason when it cannot.</summary>
    public abstract Task StartAsync(IProgress<string> progress, CancellationToken cancellationToken);

    /// <summary>
    /// A token for <paramref name="user"/> with <paramref name="scope"/> (WLCG storage scopes); an environment that
    /// cannot mint tokens returns the one it was given.
    /// </summary>
    public abstract string Token(string user, string? scope = null);

    /// <inheritdoc/>
    public virtual ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }
}

/// <summary>An existing deployment: the services' URLs and a token, as a site gives them.</summary>
public sealed class DeploymentEnvironment : FacilityEnvironment
{
    private readonly string _token;
    private readonly string _target;

    /// <summary>
    /// <paramref name="portal"/> is the facility's portal; each service is at <paramref name="services"/>[name],
    /// else found from the portal's base URL with the one-machine facility's ports.
    /// </summary>
    public DeploymentEnvironment(Uri portal, IReadOnlyDictionary<string, Uri> services, string token)
    {
        ArgumentNullException.ThrowIfNull(portal);
        ArgumentNullException.ThrowIfNull(services);
        if (portal.Scheme is not ("http" or "https"))
        {
            throw new ArgumentException($"{portal} is not an http(s) URL.", nameof(portal));
        }

        _token = token;
        _target = portal.GetLeftPart(UriPartial.Authority);
        var all = new Dictionary<string, Uri>(StringComparer.Ordinal);
        foreach (var component in FacilityComponents.Services)
        {
            all[component.Name] = services.TryGetValue(component.Name, out var url)
                ? url
                : component.Name == "portal" ? portal : new UriBuilder(portal) { Port = component.Port, Path = "/" }.Uri;
        }

        Services = all;
    }

    /// <inheritdoc/>
    public override string Target => _target;

    /// <inheritdoc/>
    public override Task StartAsync(IProgress<string> progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(progress);
        progress.Report($"Using the deployment at {_target}");
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public override bool MintsTokens => false;

    /// <inheritdoc/>
    public override string Token(string user, string? scope = null) => _token;
}
