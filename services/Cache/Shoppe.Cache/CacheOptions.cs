using System.ComponentModel.DataAnnotations;

namespace Shoppe.Cache;

/// <summary>The cache service's settings (<c>Cache</c> section).</summary>
public sealed class CacheOptions : IValidatableObject
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Cache";

    /// <summary>The folder that holds cached blocks and their block maps; default <c>&lt;DataRoot&gt;/blocks</c>.</summary>
    public string? Root { get; set; }

    /// <summary>The origins, each serving the part of the namespace under its prefix (longest prefix wins).</summary>
    public List<OriginOptions> Origins { get; set; } = [];

    /// <summary>The unit of caching (XCache's <c>pfc.blocksize</c>); a power of two from 64 KiB to 64 MiB.</summary>
    public int BlockSize { get; set; } = 1 << 20;

    /// <summary>Blocks fetched ahead of a reader moving forward through a file (XCache's <c>pfc.prefetch</c>).</summary>
    [Range(0, 256)]
    public int ReadAheadBlocks { get; set; } = 8;

    /// <summary>
    /// The most consecutive missing blocks fetched from the origin with one range request. 32 rather than 8: a 1 GiB
    /// cold read ran at 330–365 MiB/s with 8 (several runs of one file writing it at once meet on its inode's lock)
    /// and 460–650 with 32; a 256 MiB one is the same either way (docs/performance.md, "Cache"). Runs never go past
    /// what a reader asked for or the read-ahead.
    /// </summary>
    [Range(1, 1024)]
    public int FetchRunBlocks { get; set; } = 32;

    /// <summary>Origin requests in flight at once, over all files.</summary>
    [Range(1, 1024)]
    public int MaxOriginRequests { get; set; } = 32;

    /// <summary>Fetch the whole file in the background once any of it is read.</summary>
    public bool PrefetchWholeFile { get; set; }

    /// <summary>
    /// The most bytes of blocks the cache keeps; when unset, the size of the file system the cache is on, and
    /// the watermarks then apply to that file system's use (as XCache's <c>pfc.diskusage</c>).
    /// </summary>
    [Range(1, long.MaxValue)]
    public long? MaxBytes { get; set; }

    /// <summary>Above this fraction of the budget eviction starts...</summary>
    [Range(0.01, 1.0)]
    public double HighWatermark { get; set; } = 0.95;

    /// <summary>...and goes on, least recently used first, until use is below this fraction.</summary>
    [Range(0.0, 1.0)]
    public double LowWatermark { get; set; } = 0.90;

    /// <summary>How long the origin's answer about a file (size, ETag, Last-Modified) is trusted before it is asked again.</summary>
    public TimeSpan RevalidateAfter { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// How long an origin may take to answer, and to send each block once it has: a stalled origin then costs
    /// its readers a 502, not a request that never ends.
    /// </summary>
    public TimeSpan OriginTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often block maps are made durable (after the blocks they name).</summary>
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How often disk use is checked against the watermarks (also checked after every fill).</summary>
    public TimeSpan EvictionInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Whether reads need no token (writes and operations always do).</summary>
    public bool AllowAnonymousReads { get; set; }

    /// <summary>The most ranges one request may ask for.</summary>
    [Range(1, 10_000)]
    public int MaxRanges { get; set; } = 1024;

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (BlockSize < 64 * 1024 || BlockSize > 64 * 1024 * 1024 || (BlockSize & (BlockSize - 1)) != 0)
        {
            yield return new ValidationResult("Cache:BlockSize must be a power of two from 65536 to 67108864.", [nameof(BlockSize)]);
        }

        if (LowWatermark >= HighWatermark)
        {
            yield return new ValidationResult("Cache:LowWatermark must be below Cache:HighWatermark.", [nameof(LowWatermark)]);
        }

        if (Origins.Count == 0)
        {
            yield return new ValidationResult("Cache:Origins must name at least one origin.", [nameof(Origins)]);
        }

        foreach (var (origin, i) in Origins.Select((o, i) => (o, i)))
        {
            foreach (var error in origin.Validate(i))
            {
                yield return new ValidationResult(error, [nameof(Origins)]);
            }
        }

        var prefixes = Origins.Select(o => OriginOptions.NormalizePrefix(o.Prefix)).ToList();
        if (prefixes.Distinct(StringComparer.Ordinal).Count() != prefixes.Count)
        {
            yield return new ValidationResult("Cache:Origins: two origins have the same prefix.", [nameof(Origins)]);
        }
    }
}

/// <summary>One origin: an HTTP(S) storage endpoint or a local folder, serving one prefix of the namespace.</summary>
public sealed class OriginOptions
{
    /// <summary>A short name for stats and logs.</summary>
    public string Name { get; set; } = "";

    /// <summary>The namespace prefix this origin serves, e.g. <c>/store</c>; <c>/</c> for everything.</summary>
    public string Prefix { get; set; } = "/";

    /// <summary>The origin's base URL (http or https); the path after the prefix is appended to it.</summary>
    public string? Url { get; set; }

    /// <summary>A local folder as the origin (tests and one-machine facilities).</summary>
    public string? Directory { get; set; }

    /// <summary>A bearer token the cache presents to the origin: the cache's own credential, never a user's.</summary>
    public string? BearerToken { get; set; }

    /// <summary>Names no origin prefix may take: the service's own endpoints.</summary>
    internal static readonly string[] ReservedFirstSegments = ["v1", "health", "alive", "version"];

    internal static string NormalizePrefix(string? prefix) => "/" + (prefix ?? "").Trim('/');

    internal IEnumerable<string> Validate(int index)
    {
        var where = $"Cache:Origins:{index}";
        if (!Shoppe.Security.ShoppeClaims.IsValidName(Name))
        {
            yield return $"{where}:Name must be a short name of letters, digits, '-', '_' or '.'.";
        }

        if (string.IsNullOrEmpty(Url) == string.IsNullOrEmpty(Directory))
        {
            yield return $"{where} must have exactly one of Url or Directory.";
        }

        if (!string.IsNullOrEmpty(Url) && (!Uri.TryCreate(Url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
            || !string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.Fragment)))
        {
            yield return $"{where}:Url must be an http or https URL without query or fragment.";
        }

        if (!string.IsNullOrEmpty(Directory) && !Path.IsPathFullyQualified(Directory))
        {
            yield return $"{where}:Directory must be an absolute path.";
        }

        var prefix = NormalizePrefix(Prefix);
        if (!CachePath.TryParse(prefix, out _, out _) && prefix != "/")
        {
            yield return $"{where}:Prefix is not a valid path.";
        }

        var first = prefix.TrimStart('/').Split('/')[0];
        if (ReservedFirstSegments.Contains(first, StringComparer.OrdinalIgnoreCase))
        {
            yield return $"{where}:Prefix may not begin with /{first}: the cache serves its own API there.";
        }
    }
}
