using System.ComponentModel.DataAnnotations;

namespace Shoppe.Pushdown;

/// <summary>The pushdown node's settings (section <c>Pushdown</c>; docs/pushdown.md).</summary>
public sealed class PushdownOptions
{
    public const string Section = "Pushdown";

    /// <summary>The folders whose Parquet files this node serves (the facility's origin storage). Paths in requests are relative to them, tried in order.</summary>
    public List<string> StorageRoots { get; } = [];

    /// <summary>Named datasets: each a list of files or folders (all their <c>*.parquet</c>) under the storage roots.</summary>
    public Dictionary<string, List<string>> Datasets { get; } = new(StringComparer.Ordinal);

    /// <summary>Where Arrow Flight (gRPC over plain HTTP/2) listens, e.g. <c>http://127.0.0.1:5115</c>; unset: Flight is served only where HTTP/2 is (in-memory tests, TLS).</summary>
    public string? FlightUrl { get; set; }

    /// <summary>The location put in Flight endpoints (<c>grpc+tcp://host:port</c>); by default made from <see cref="FlightUrl"/>. None: clients read endpoints from the service they asked.</summary>
    public string? FlightLocation { get; set; }

    /// <summary>Record batches a scan may hold ready ahead of a slow reader; with the batch being built and the one being sent, what bounds a scan's memory.</summary>
    [Range(1, 64)]
    public int BufferedBatches { get; set; } = 4;

    /// <summary>The most events one endpoint (one ticket) covers; a file is cut into endpoints of whole row groups.</summary>
    [Range(1, long.MaxValue)]
    public long EndpointEvents { get; set; } = 2_000_000;

    /// <summary>Scans running at once; more are refused (HTTP 503, gRPC RESOURCE_EXHAUSTED).</summary>
    [Range(1, 4096)]
    public int MaxConcurrentScans { get; set; } = 64;

    /// <summary>The most files one scan may name.</summary>
    [Range(1, 1_000_000)]
    public int MaxFiles { get; set; } = 100_000;

    /// <summary>The most output columns one scan may ask for.</summary>
    [Range(1, 100_000)]
    public int MaxColumns { get; set; } = 2_000;

    /// <summary>How long a finished scan's status is kept for <c>GET /v1/scans/{id}</c>.</summary>
    public TimeSpan StatusKept { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// Other pushdown nodes this one coordinates (none: it serves its own storage). A coordinator answers
    /// <c>GetFlightInfo</c> and HTTP scans for datasets spread over its nodes, with each node's endpoints.
    /// </summary>
    public List<PushdownNode> Nodes { get; } = [];

    /// <summary>The advertised Flight location: <see cref="FlightLocation"/>, else <see cref="FlightUrl"/> as <c>grpc+tcp://</c>.</summary>
    public string? AdvertisedLocation =>
        FlightLocation ?? (FlightUrl is { } url && Uri.TryCreate(url, UriKind.Absolute, out var uri) ? $"grpc+tcp://{uri.Authority}" : null);
}

/// <summary>A pushdown node a coordinator sends scans to.</summary>
public sealed class PushdownNode
{
    /// <summary>How errors and logs name it.</summary>
    [Required]
    public string Name { get; set; } = "";

    /// <summary>Its Flight listener (<c>http://host:5115</c>).</summary>
    [Required]
    public string FlightUrl { get; set; } = "";

    /// <summary>The node whose storage this one replicates: it serves that node's tickets where that node fails.</summary>
    public string? ReplicaOf { get; set; }

    /// <summary>Its Flight location, as endpoints carry it.</summary>
    public string Location => Uri.TryCreate(FlightUrl, UriKind.Absolute, out var uri) ? $"{(uri.Scheme == "https" ? "grpc+tls" : "grpc+tcp")}://{uri.Authority}" : FlightUrl;
}
