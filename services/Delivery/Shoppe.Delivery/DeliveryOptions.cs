using System.ComponentModel.DataAnnotations;

namespace Shoppe.Delivery;

/// <summary>The delivery service's settings, bound from <c>Delivery</c> (docs/delivery.md).</summary>
public sealed class DeliveryOptions
{
    public const string SectionName = "Delivery";

    /// <summary>
    /// Files this instance transforms at once. Default: one per core (a transform is CPU-bound once its input is
    /// cached). 0 at a site where pilots (<c>shoppe pilot --server</c> this service) do all the work.
    /// </summary>
    [Range(0, 1024)]
    public int Workers { get; set; } = Environment.ProcessorCount;

    /// <summary>Tries per file before it is reported failed (only failures that may pass are retried).</summary>
    [Range(1, 20)]
    public int MaxAttempts { get; set; } = 3;

    /// <summary>How long a worker's lease on a file lasts without a renewal (workers renew at a third of it): how soon a file whose pilot or instance died runs again.</summary>
    [Range(1.0, 3600.0)]
    public double LeaseSeconds { get; set; } = 30;

    /// <summary>Wait before a retry (doubled at each further attempt).</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary><c>sqlite</c> (default: <c>&lt;data root&gt;/delivery.db</c>) or <c>postgres</c> (<c>ConnectionStrings:delivery</c>).</summary>
    public string Store { get; set; } = "sqlite";

    /// <summary>Where outputs go when a request names no destination: <c>&lt;OutputRoot&gt;/&lt;request id&gt;/</c>. Default: <c>&lt;data root&gt;/outputs</c>.</summary>
    public string? OutputRoot { get; set; }

    /// <summary>The output root in effect, for a service whose data root is <paramref name="dataRoot"/>.</summary>
    public string ResolveOutputRoot(string dataRoot) => Path.GetFullPath(OutputRoot ?? Path.Combine(dataRoot, "outputs"));

    /// <summary>Directories a request may name as its destination (or any folder below them). Empty: only the default.</summary>
    public IList<string> Destinations { get; } = [];

    /// <summary>Local directories whose Parquet files a request may name by path (or file:// URL). Empty: none.</summary>
    public IList<string> LocalRoots { get; } = [];

    /// <summary>The cache the facility reads through: dataset entries that are paths (<c>/nanoaod/x.parquet</c>) resolve against it.</summary>
    public Uri? CacheUrl { get; set; }

    /// <summary>The service's own token for the cache (users' tokens never leave the delivery service).</summary>
    public string? CacheToken { get; set; }

    /// <summary>
    /// A pushdown node holding the facility's files (docs/pushdown.md): inputs written <c>pushdown:/path</c> (a path
    /// under the node's storage) are transformed on the node, which sends only the selected columns of the passing
    /// events, rather than read whole through the cache.
    /// </summary>
    public Uri? PushdownUrl { get; set; }

    /// <summary>The service's own token for the pushdown node (pilots use theirs).</summary>
    public string? PushdownToken { get; set; }

    /// <summary>Named datasets: a name and its files (URLs, cache paths, <c>pushdown:</c> paths, or local paths under <see cref="LocalRoots"/>).</summary>
    public IDictionary<string, IList<string>> Datasets { get; } = new Dictionary<string, IList<string>>(StringComparer.Ordinal);

    /// <summary>Most files in one request.</summary>
    [Range(1, 1_000_000)]
    public int MaxFiles { get; set; } = 100_000;

    /// <summary>Most output columns in one request.</summary>
    [Range(1, 100_000)]
    public int MaxColumns { get; set; } = 5_000;

    // AllowedRemotes, the remotes users' URLs may reach (public addresses only by default), is bound from this
    // section by the shared remote policy (Shoppe.Security.Remotes; Extensions/DeliveryServiceExtensions.cs).
}
