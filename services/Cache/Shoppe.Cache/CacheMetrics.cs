using System.Diagnostics.Metrics;
using Shoppe.Cache.Blocks;

namespace Shoppe.Cache;

/// <summary>
/// The cache's figures, counted once and reported twice: as OpenTelemetry metrics (meter <c>Shoppe.Cache</c>)
/// and by <c>GET /v1/stats</c>.
/// </summary>
public sealed class CacheMetrics
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "Shoppe.Cache";

    private readonly Counter<long> _blocks;
    private readonly Counter<long> _bytes;
    private readonly Counter<long> _evictions;
    private readonly Counter<long> _diskFull;
    private long _hits;
    private long _misses;
    private long _prefetched;
    private long _bytesFromCache;
    private long _bytesFromOrigin;
    private long _evicted;
    private long _evictedBytes;
    private long _diskFullCount;
    private BlockCache? _cache;

    /// <summary>Creates the instruments.</summary>
    public CacheMetrics(IMeterFactory meters)
    {
        ArgumentNullException.ThrowIfNull(meters);
        var meter = meters.Create(MeterName);
        _blocks = meter.CreateCounter<long>("shoppe.cache.blocks", "{block}", "Blocks served to readers, by result (hit: from disk; miss: fetched for the reader) and blocks prefetched");
        _bytes = meter.CreateCounter<long>("shoppe.cache.bytes", "By", "Bytes sent to readers from cached blocks and bytes fetched from origins");
        _evictions = meter.CreateCounter<long>("shoppe.cache.evictions", "{file}", "Files evicted");
        _diskFull = meter.CreateCounter<long>("shoppe.cache.disk_full", "{event}", "Writes refused for a full disk after eviction");
        meter.CreateObservableGauge("shoppe.cache.used", () => _cache?.UsedBytes ?? 0, "By", "Bytes of cached blocks");
        meter.CreateObservableGauge("shoppe.cache.files", () => _cache?.FileCount ?? 0, "{file}", "Files with cached blocks");
    }

    internal void ObserveCache(BlockCache cache) => _cache = cache;

    internal void Hit(int blocks)
    {
        Interlocked.Add(ref _hits, blocks);
        _blocks.Add(blocks, new KeyValuePair<string, object?>("result", "hit"));
    }

    internal void Filled(long bytes, bool requested)
    {
        Interlocked.Add(ref _bytesFromOrigin, bytes);
        _bytes.Add(bytes, new KeyValuePair<string, object?>("source", "origin"));
        if (requested)
        {
            Interlocked.Increment(ref _misses);
            _blocks.Add(1, new KeyValuePair<string, object?>("result", "miss"));
        }
        else
        {
            Interlocked.Increment(ref _prefetched);
            _blocks.Add(1, new KeyValuePair<string, object?>("result", "prefetch"));
        }
    }

    internal void Served(long bytes)
    {
        Interlocked.Add(ref _bytesFromCache, bytes);
        _bytes.Add(bytes, new KeyValuePair<string, object?>("source", "cache"));
    }

    internal void Evicted(long bytes)
    {
        Interlocked.Increment(ref _evicted);
        Interlocked.Add(ref _evictedBytes, bytes);
        _evictions.Add(1);
    }

    internal void DiskFull()
    {
        Interlocked.Increment(ref _diskFullCount);
        _diskFull.Add(1);
    }

    /// <summary>The figures now.</summary>
    public CacheStats Snapshot()
    {
        var (budget, used) = _cache?.DiskUse() ?? (0, 0);
        return new CacheStats(
            Interlocked.Read(ref _hits), Interlocked.Read(ref _misses), Interlocked.Read(ref _prefetched),
            Interlocked.Read(ref _bytesFromCache), Interlocked.Read(ref _bytesFromOrigin),
            _cache?.UsedBytes ?? 0, _cache?.FileCount ?? 0, budget, used,
            Interlocked.Read(ref _evicted), Interlocked.Read(ref _evictedBytes), Interlocked.Read(ref _diskFullCount));
    }
}

/// <summary>What <c>GET /v1/stats</c> answers.</summary>
/// <param name="Hits">Blocks served from disk.</param>
/// <param name="Misses">Blocks fetched from an origin for a reader.</param>
/// <param name="Prefetched">Blocks fetched ahead of readers.</param>
/// <param name="BytesFromCache">Bytes sent to readers (all from cached blocks: a miss is written, then sent).</param>
/// <param name="BytesFromOrigin">Bytes fetched from origins.</param>
/// <param name="CachedBytes">Bytes of cached blocks.</param>
/// <param name="Files">Files with cached blocks.</param>
/// <param name="DiskBudgetBytes">What the watermarks apply to: Cache:MaxBytes, or the file system's size.</param>
/// <param name="DiskUsedBytes">The use measured against the budget.</param>
/// <param name="Evictions">Files evicted.</param>
/// <param name="EvictedBytes">Bytes evicted.</param>
/// <param name="DiskFull">Writes refused for a full disk.</param>
public sealed record CacheStats(
    long Hits, long Misses, long Prefetched, long BytesFromCache, long BytesFromOrigin, long CachedBytes, int Files,
    long DiskBudgetBytes, long DiskUsedBytes, long Evictions, long EvictedBytes, long DiskFull);
