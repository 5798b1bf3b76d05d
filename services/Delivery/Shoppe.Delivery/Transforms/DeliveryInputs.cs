using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Shoppe.Columnar.Io;
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
public sealed class DeliveryInputs(IOptions<DeliveryOptions> options) : IDisposable
{
    private readonly DeliveryOptions _options = options.Value;

    // Parquet reads are synchronous (ParquetSharp pulls from a Stream), so remote reads use HttpClient.Send on a
    // handler that supports it: the request id still travels (the propagation handler covers Send too).
    private readonly HttpClient _http = new(new RequestIdPropagationHandler
    {
        InnerHandler = new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(10), PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1) },
    })
    { Timeout = TimeSpan.FromMinutes(5) };

    /// <summary>The files of a request's dataset, each checked and made absolute.</summary>
    public IReadOnlyList<string> Resolve(JsonElement dataset, out string description)
    {
        IList<string> entries;
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

        return entries.Select((e, i) => Check(e, i)).ToList();
    }

    private string Check(string entry, int index)
    {
        var where = $"Dataset entry {index + 1} ('{Shorten(entry)}')";
        if (entry.Length > 4096)
        {
            throw new DeliveryRequestException(400, "Bad file location", $"Dataset entry {index + 1} is longer than 4096 characters.");
        }

        if (Uri.TryCreate(entry, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https")
        {
            if (uri.Segments.Any(s => s.TrimEnd('/') is ".." or "%2e%2e" or "%2E%2E"))
            {
                throw new DeliveryRequestException(400, "Bad file location", $"{where} climbs out of its folder ('..').");
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

    private static string Shorten(string text) => text.Length <= 200 ? text : text[..200] + "...";

    /// <summary>Opens one input; a remote one with range requests (the cache's token goes to the cache only).</summary>
    public Task<ColumnarFile> OpenAsync(string location, CancellationToken cancellationToken)
    {
        if (!location.StartsWith("http://", StringComparison.Ordinal) && !location.StartsWith("https://", StringComparison.Ordinal))
        {
            return ColumnarFile.OpenAsync(location, null, cancellationToken);
        }

        AuthenticationHeaderValue? authorization = null;
        if (_options.CacheToken is { Length: > 0 } token && _options.CacheUrl is { } cache
            && Uri.TryCreate(location, UriKind.Absolute, out var uri)
            && Uri.Compare(uri, cache, UriComponents.SchemeAndServer, UriFormat.Unescaped, StringComparison.OrdinalIgnoreCase) == 0)
        {
            authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return ColumnarFile.OpenAsync(location, _http, authorization, cancellationToken);
    }

    public void Dispose() => _http.Dispose();
}
