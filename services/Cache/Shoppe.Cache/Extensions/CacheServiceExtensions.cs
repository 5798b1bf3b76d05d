using Microsoft.Extensions.Options;
using Shoppe.Cache.Apis;
using Shoppe.Cache.Blocks;
using Shoppe.Cache.Origins;
using Shoppe.ServiceDefaults;

namespace Shoppe.Cache.Extensions;

/// <summary>The cache service's registrations: options validated at start, the block cache, its origins and its data path.</summary>
internal static class CacheServiceExtensions
{
    public static WebApplicationBuilder AddCacheServices(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<CacheOptions>().BindConfiguration(CacheOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<CacheMetrics>();
        builder.Services.AddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<CacheOptions>>();
            var root = options.Value.Root ?? Path.Combine(sp.GetRequiredService<IOptions<ShoppeHostOptions>>().Value.DataRoot, "blocks");
            return new BlockCache(root, options, sp.GetRequiredService<CacheMetrics>(), sp.GetRequiredService<ILogger<BlockCache>>(), sp.GetRequiredService<TimeProvider>());
        });
        builder.Services.AddSingleton(sp => CreateRouter(sp.GetRequiredService<IOptions<CacheOptions>>().Value));
        builder.Services.AddHostedService<CacheMaintenance>();

        // Cached blocks leave by sendfile(2); their reads are counted into one access line per request id every few seconds.
        builder.AddZeroCopySendFile();
        builder.AddSummarizedAccessLog();
        // Repeat reads of cached blocks by an authorized caller skip the pipeline's stages (HotReads says which, and why).
        builder.AddFrontLane<HotReads>();
        // Room for a few chunks in flight to the socket: at Kestrel's default 64 KiB every 256 KiB flush waited for
        // the socket to drain before the next read from disk began (docs/performance.md, "Cache").
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxResponseBufferSize = 4L << 20);
        return builder;
    }

    private static OriginRouter CreateRouter(CacheOptions options)
    {
        // Origins get a client of their own: no retries or hedging between the cache and an origin (a down
        // origin must answer 502 promptly), no user's headers, connections kept for range requests.
        var client = new HttpClient(new SocketsHttpHandler
        {
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1),
            MaxConnectionsPerServer = 64,
            ConnectTimeout = TimeSpan.FromSeconds(5),
            AutomaticDecompression = System.Net.DecompressionMethods.None,
            UseCookies = false,
        })
        { Timeout = Timeout.InfiniteTimeSpan };
        return new OriginRouter(options.Origins.Select(o =>
            (o.Prefix, !string.IsNullOrEmpty(o.Url) ? (IOrigin)new HttpOrigin(o, client, options.OriginTimeout) : new DirectoryOrigin(o))));
    }
}
