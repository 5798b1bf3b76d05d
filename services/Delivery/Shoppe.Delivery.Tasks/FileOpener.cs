using System.Net.Http.Headers;
using Shoppe.Columnar.Io;

namespace Shoppe.Delivery.Tasks;

/// <summary>
/// Opens a file task's input: a local path directly, the facility's storage with the facility's own client (and the
/// cache's token, to the cache only), a user's URL with a client that connects only where the user policy allows.
/// A pilot with a cache of its own (<c>shoppe pilot --cache</c>) reads the cache's files there, nearer than the
/// delivery service's.
/// </summary>
/// <param name="facility">The client for the facility's storage.</param>
/// <param name="users">The client for a user's URL, under the policy <see cref="InputAccess"/> carries.</param>
/// <param name="nearestCache">A cache nearer to this worker than the one the service names, or null.</param>
public sealed class FileOpener(HttpClient facility, Func<InputAccess, HttpClient> users, Uri? nearestCache = null)
{
    /// <summary>The client of the facility's own services (the cache, the pushdown node).</summary>
    public HttpClient Facility => facility;

    /// <summary>Opens <paramref name="location"/>.</summary>
    /// <param name="location">An http(s) URL or an absolute local path, as the service resolved it.</param>
    /// <param name="access">How to read it.</param>
    /// <param name="cancellationToken">Cancels the open.</param>
    /// <returns>The open file.</returns>
    public Task<ColumnarFile> OpenAsync(string location, InputAccess access, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(location);
        ArgumentNullException.ThrowIfNull(access);
        if (!location.StartsWith("http://", StringComparison.Ordinal) && !location.StartsWith("https://", StringComparison.Ordinal))
        {
            return ColumnarFile.OpenAsync(location, null, cancellationToken);
        }

        if (!access.Facility)
        {
            return ColumnarFile.OpenAsync(location, users(access), null, cancellationToken);
        }

        if (nearestCache is not null && access.CachePath is { } path)
        {
            location = new Uri(nearestCache, nearestCache.AbsolutePath.TrimEnd('/') + path).AbsoluteUri;
        }

        var authorization = access.CacheToken is { Length: > 0 } token ? new AuthenticationHeaderValue("Bearer", token) : null;
        return ColumnarFile.OpenAsync(location, facility, authorization, cancellationToken);
    }
}
