using System.Text.Json;
using Microsoft.Extensions.Options;
using Shoppe.Columnar.Io;
using Shoppe.Delivery.Tasks;
using Shoppe.Security.Remotes;
using Shoppe.ServiceDefaults.RequestIds;

namespace Shoppe.Delivery.Transforms;

/// <summary>A request the service refuses, with what to tell the user (an RFC 9457 problem).</summary>
public sealed class DeliveryRequestException(int status, string title, string detail) : Exception(detail)
{
    public int Status { get; } = status;

    public string Title { get; } = title;
}

/// <summary>
/// Turns a request's dataset into file locations and opens them. A location is an http(s) URL (read with range
/// requests; the cache's own token goes only to the cache), a path under the cache (<c>/nanoaod/x.parquet</c>,
/// read through the cache), or a local path or file:// URL under one of the configured local roots. Nothing else
/// is read: no relative paths, no <c>..</c>, nothing outside the roots.
/// </summary>
/// <remarks>
/// A URL a user names is read only where <c>Delivery:AllowedRemotes</c> allows (<paramref name="policy"/>: by
/// default public addresses only), judged before the request is taken where its host is an address, and on every
/// connection (redirects included) otherwise. The facility's own reads are not the user's to restrict: the cache
/// (<see cref="DeliveryOptions.CacheUrl"/>, where the facility's storage is read) and the files of the named
/// datasets the operator configured go through a client of their own, whatever the list says.
/// </remarks>
public sealed class DeliveryInputs(IOptions<DeliveryOptions> options, RemotePolicy policy, IOptions<RemotePolicyOptions> rules) : IDisposable
{
    private readonly DeliveryOptions _options = options.Value;
    private readonly RemotePolicy _policy = policy;
    private readonly InputAccess _userAccess = new(false, AllowedRemotes: [.. rules.Value.AllowedRemotes], PublicOnly: policy.Defaults == RemoteDefaults.PublicOnly);

    // The facility's own reads (the cache, the named datasets): whatever Delivery:AllowedRemotes says.
    private readonly HttpClient _facility = Client(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(10) });

    // Users' URLs: every connection, a redirect's too, only to an address Delivery:AllowedRemotes allows.
    private readonly HttpClient _users = Client(policy.Handler(TimeSpan.FromSeconds(10)));

    // The named datasets' URLs, as Check makes them: the operator's choice, read like the cache whoever names them.
    private readonly HashSet<string> _namedUrls = [.. options.Value.Datasets.Values.SelectMany(d => d)
        .Select(e => Uri.TryCreate(e, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" ? uri.AbsoluteUri : null)
        .OfType<string>()];

    // Parquet reads are synchronous (ParquetSharp pulls from a Stream), so remote reads use HttpClient.Send on a
    // handler that supports it: the request id still travels (the propagation handler covers Send too).
    private static HttpClient Client(SocketsHttpHandler handler)
    {
        handler.PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1);
        return new(new RequestIdPropagationHandler { InnerHandler = handler }) { Timeout = TimeSpan.FromMinutes(5) };
    }

    /// <summary>The files of a request's dataset, each checked and made absolute.</summary>
    public IReadOnlyList<string> Resolve(JsonElement dataset, out string description)
    {
        IList<string> entries;
        var configured = false;
        switch (dataset.ValueKind)
        {
            case JsonValueKind.String:
                var name = dataset.GetString()!;
                if (!_options.Datasets.TryGetValue(name, out var named))
                {
                    var known = _options.Datasets.Keys.Order(StringComparer.Ordinal).ToList();
                    throw new DeliveryRequestException(400, "Unknown dataset", $"There is no dataset named '{Shorten(name)}'. {(known.Count == 0 ? "This facility names no datasets; give a list of file URLs." : "Named datasets: " + string.Join(", ", known) + ".")}");
                }

                entries = named;
                description = name;
                configured = true;
                break;
            case JsonValueKind.Array:
                entries = [];
                foreach (var item in dataset.EnumerateArray())
                {
                    if (item.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(item.GetString()))
                    {
                        throw new DeliveryRequestException(400, "Bad dataset", $"Dataset entry {entries.Count + 1} is not a file URL or path (a non-empty string).");
                    }

                    entries.Add(item.GetString()!);
                    if (entries.Count > _options.MaxFiles)
                    {
                        throw new DeliveryRequestException(400, "Too many files", $"A request may name at most {_options.MaxFiles} files.");
                    }
                }

                description = entries.Count == 1 ? entries[0] : $"{entries.Count} files";
                break;
            default:
                throw new DeliveryRequestException(400, "Bad dataset", "'dataset' must be a dataset name or a list of file URLs.");
        }

        if (entries.Count == 0)
        {
            throw new DeliveryRequestException(400, "Empty dataset", "The dataset names no files.");
        }

        return entries.Select((e, i) => Check(e, i, configured)).ToList();
    }

    /// <summary>Checks one entry and makes it absolute; <paramref name="configured"/>: it comes from a named dataset (the operator's).</summary>
    private string Check(string entry, int index, bool configured)
    {
        var where = $"Dataset entry {index + 1} ('{Shorten(entry)}')";
        if (entry.Length > 4096)
        {
            throw new DeliveryRequestException(400, "Bad file location", $"Dataset entry {index + 1} is longer than 4096 characters.");
        }

        if (entry.StartsWith(PushdownScheme, StringComparison.Ordinal))
        {
            var onNode = entry[PushdownScheme.Length..];
            if (_options.PushdownUrl is null)
            {
                throw new DeliveryRequestException(400, "Bad file location", $"{where} is on a pushdown node, and this facility names none (Delivery:PushdownUrl).");
            }

            if (!onNode.StartsWith('/') || onNode.Split('/').Any(s => s is ".." or ".") || onNode.Contains('\\', StringComparison.Ordinal))
            {
                throw new DeliveryRequestException(400, "Bad file location", $"{where} is not a plain path under the pushdown node's storage (pushdown:/folder/file.parquet).");
            }

            return PushdownScheme + onNode;
        }

        if (Uri.TryCreate(entry, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https")
        {
            if (uri.Segments.Any(s => s.TrimEnd('/') is ".." or "%2e%2e" or "%2E%2E"))
            {
                throw new DeliveryRequestException(400, "Bad file location", $"{where} climbs out of its folder ('..').");
            }

            if (!configured && !IsFacility(uri) && _policy.Check(uri) is { } refusal)
            {
                throw new DeliveryRequestException(403, "Remote not allowed", $"{where}: {refusal}.");
            }

            return uri.AbsoluteUri;
        }

        // On Unix "/a/b" parses as an absolute file URI too: only an explicit file:// is one.
        var fileUri = entry.StartsWith("file:", StringComparison.OrdinalIgnoreCase);
        var path = fileUri && uri is { IsFile: true } ? uri.LocalPath : entry;
        if (!path.StartsWith('/'))
        {
            throw new DeliveryRequestException(400, "Bad file location", $"{where} is not an http(s) URL, a cache path or an absolute local path.");
        }

        if (path.Split('/').Any(s => s == ".."))
        {
            throw new DeliveryRequestException(400, "Bad file location", $"{where} climbs out of its folder ('..').");
        }

        string full;
        try
        {
            full = Path.GetFullPath(path);
            // A link is judged by where it leads, not where it stands.
            if (File.Exists(full) && new FileInfo(full).ResolveLinkTarget(returnFinalTarget: true) is { } target)
            {
                full = target.FullName;
            }
        }
        catch (Exception ex) when (ex is ArgumentException or IOException)
        {
            throw new DeliveryRequestException(400, "Bad file location", $"{where} is not a valid path.");
        }

        foreach (var root in _options.LocalRoots)
        {
            var rootFull = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root)) + Path.DirectorySeparatorChar;
            if (full.StartsWith(rootFull, StringComparison.Ordinal))
            {
                return full;
            }
        }

        if (_options.CacheUrl is { } cache && !fileUri)
        {
            if (!Uri.TryCreate(cache, cache.AbsolutePath.TrimEnd('/') + path, out var cached) || cached.Authority != cache.Authority)
            {
                throw new DeliveryRequestException(400, "Bad file location", $"{where} is not a path under the cache.");
            }

            return cached.AbsoluteUri;
        }

        throw new DeliveryRequestException(400, "Bad file location", $"{where} is a local path outside the folders this facility serves{(_options.CacheUrl is null ? "" : "; give a path under the cache or an http(s) URL")}.");
    }

    /// <summary>How an input on the pushdown node is written: <c>pushdown:/path/under/its/storage</c>.</summary>
    public const string PushdownScheme = "pushdown:";

    /// <summary>Whether <paramref name="location"/> (resolved) is transformed on the pushdown node.</summary>
    public static bool IsPushdown(string location) => location.StartsWith(PushdownScheme, StringComparison.Ordinal);

    /// <summary>
    /// Checks a request's selection against an input on the pushdown node (the node plans the scan of that file),
    /// so a selection that does not fit is refused at submission as for any other input.
    /// </summary>
    public async Task CheckOnNodeAsync(string location, IReadOnlyList<string> columns, string? filter, CancellationToken cancellationToken)
    {
        var client = new Shoppe.Pushdown.Client.PushdownClient(PushdownHttp);
        var request = new Shoppe.Pushdown.Client.ScanRequest(JsonSerializer.SerializeToElement(new[] { location[PushdownScheme.Length..] }), columns, filter);
        try
        {
            await client.PlanAsync(request, cancellationToken);
        }
        catch (Shoppe.Pushdown.Client.PushdownException ex)
        {
            throw new DeliveryRequestException(ex.Status is 400 or 403 or 404 ? ex.Status : 422, ex.Title, $"The pushdown node refused the first file: {ex.Detail}");
        }
        catch (HttpRequestException ex)
        {
            throw new DeliveryRequestException(503, "Pushdown node unreachable", $"The pushdown node at {_options.PushdownUrl} did not answer: {ex.Message}");
        }
    }

    /// <summary>The service's client of the pushdown node (its base address and the service's token).</summary>
    private HttpClient PushdownHttp => _pushdownHttp ??= new HttpClient(new RequestIdPropagationHandler { InnerHandler = new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(10) } })
    {
        BaseAddress = new Uri(_options.PushdownUrl!.AbsoluteUri.TrimEnd('/') + "/"),
        Timeout = TimeSpan.FromMinutes(1),
        DefaultRequestHeaders = { Authorization = _options.PushdownToken is { Length: > 0 } token ? new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token) : null },
    };

    private HttpClient? _pushdownHttp;

    private static string Shorten(string text) => text.Length <= 200 ? text : text[..200] + "...";

    /// <summary>Whether <paramref name="uri"/> is on the facility's cache (scheme, host and port).</summary>
    private bool IsFacility(Uri uri) => _options.CacheUrl is { } cache
        && Uri.Compare(uri, cache, UriComponents.SchemeAndServer, UriFormat.Unescaped, StringComparison.OrdinalIgnoreCase) == 0;

    /// <summary>
    /// How a worker reads <paramref name="location"/> (a resolved input): the cache's files with the cache's token
    /// (and their path under it, for a pilot with a nearer cache), the named datasets' URLs as the facility's own,
    /// anything else a user named under <c>Delivery:AllowedRemotes</c>.
    /// </summary>
    public InputAccess Access(string location)
    {
        ArgumentNullException.ThrowIfNull(location);
        if (IsPushdown(location))
        {
            return new InputAccess(true, Pushdown: _options.PushdownUrl!.AbsoluteUri, PushdownToken: _options.PushdownToken is { Length: > 0 } pushdownToken ? pushdownToken : null);
        }

        if (!location.StartsWith("http://", StringComparison.Ordinal) && !location.StartsWith("https://", StringComparison.Ordinal))
        {
            return new InputAccess(true);
        }

        var uri = new Uri(location);
        if (IsFacility(uri))
        {
            var path = uri.AbsolutePath[_options.CacheUrl!.AbsolutePath.TrimEnd('/').Length..] + uri.Query;
            return new InputAccess(true, _options.CacheToken is { Length: > 0 } token ? token : null, path);
        }

        return _namedUrls.Contains(uri.AbsoluteUri) ? new InputAccess(true) : _userAccess;
    }

    /// <summary>The opener the service's own workers use: the clients above, the service's cache.</summary>
    public FileOpener Opener => _opener ??= new FileOpener(_facility, _ => _users);

    private FileOpener? _opener;

    /// <summary>
    /// Opens one input; a remote one with range requests (the cache's token goes to the cache only). A user's URL
    /// that leads to a remote the policy refuses fails with a <see cref="ColumnarInputException"/> carrying the
    /// <see cref="RemoteNotAllowedException"/>.
    /// </summary>
    public Task<ColumnarFile> OpenAsync(string location, CancellationToken cancellationToken) =>
        Opener.OpenAsync(location, Access(location), cancellationToken);

    public void Dispose()
    {
        _pushdownHttp?.Dispose();
        _facility.Dispose();
        _users.Dispose();
    }
}
