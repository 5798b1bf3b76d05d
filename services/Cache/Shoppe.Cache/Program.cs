using Microsoft.Extensions.Options;
using Shoppe.Cache;
using Shoppe.Security;
using Shoppe.ServiceDefaults;

// The cache service: an authenticated block cache for remote file data (like XCache), read with HTTP
// range requests (docs/cache.md).
var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddShoppeAuthentication();
builder.Services.AddOptions<CacheOptions>().BindConfiguration(CacheOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
builder.Services.AddSingleton<CacheMetrics>();
builder.Services.AddSingleton(sp =>
{
    var options = sp.GetRequiredService<IOptions<CacheOptions>>();
    var root = options.Value.Root ?? Path.Combine(sp.GetRequiredService<IOptions<ShoppeHostOptions>>().Value.DataRoot, "blocks");
    return new BlockCache(root, options, sp.GetRequiredService<CacheMetrics>(), sp.GetRequiredService<ILogger<BlockCache>>());
});
builder.Services.AddSingleton(sp =>
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
    var options = sp.GetRequiredService<IOptions<CacheOptions>>();
    return new OriginRouter(options.Value.Origins.Select(o =>
        (o.Prefix, !string.IsNullOrEmpty(o.Url) ? (IOrigin)new HttpOrigin(o, client, options.Value.OriginTimeout) : new DirectoryOrigin(o))));
});
builder.Services.AddHostedService<CacheMaintenance>();
// Repeat reads of cached blocks by an authorized caller skip the pipeline's stages (HotReads says which, and why).
builder.Services.AddSingleton<HotReads>();
builder.Services.AddSingleton<FrontLane>(sp => sp.GetRequiredService<HotReads>());
// Room for a few chunks in flight to the socket: at Kestrel's default 64 KiB every 256 KiB flush waited for
// the socket to drain before the next read from disk began (docs/performance.md, "Cache").
builder.WebHost.ConfigureKestrel(k => k.Limits.MaxResponseBufferSize = 4L << 20);

var app = builder.Build();
app.MapDefaultEndpoints();
app.UseShoppeAuthentication();
app.MapCacheApi();
await app.RunAsync();
