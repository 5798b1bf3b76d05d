using System.Collections.Concurrent;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.Extensions.Options;
using Shoppe.Security;
using Shoppe.Http.FrontLanes;
using Shoppe.ServiceDefaults;
using Shoppe.Cache.Blocks;
using Shoppe.Cache.Origins;

namespace Shoppe.Cache.Apis;

/// <summary>
/// The front lane for repeat reads (<see cref="FrontLane"/>): a <c>GET</c> of blocks that are all on disk, of a
/// file validated against its origin lately, by a caller whose exact <c>Authorization</c> header the whole pipeline
/// authorized for the read endpoint while the token handler still takes the token on trust (a minute from its last
/// validation: <see cref="RememberingTokenHandler.RememberFor"/>; never past the token's expiry). It
/// is answered by the same code as the read endpoint, without routing, authentication and authorization again,
/// which cost two fifths of a cached 64 KiB read (docs/performance.md, "Cache"). Everything else — a first read
/// with a token, a miss, a precondition, an unknown or refused caller, a bad path, another endpoint — takes the
/// pipeline as before.
/// </summary>
internal sealed class HotReads(BlockCache cache, OriginRouter router, IOptions<CacheOptions> options, CacheMetrics metrics,
    ILogger<BlockCache> logger, EndpointDataSource endpoints, TimeProvider time, IOptionsMonitor<JwtBearerOptions> jwt) : FrontLane
{
    private readonly Lazy<RememberingTokenHandler?> _tokens = new(() =>
        jwt.Get(JwtBearerDefaults.AuthenticationScheme).TokenHandlers.OfType<RememberingTokenHandler>().SingleOrDefault());
    private readonly Lazy<Endpoint?> _readEndpoint = new(() =>
        endpoints.Endpoints.FirstOrDefault(e => e.Metadata.GetMetadata<IEndpointNameMetadata>()?.EndpointName == ReadEndpoint));
    private readonly Lazy<Reserved> _reserved = new(() => ReservedFirstSegments(endpoints));

    /// <summary>The read endpoint's name (in access lines too).</summary>
    public const string ReadEndpoint = "ReadThroughCache";

    /// <summary>The most callers remembered; past it the memory starts afresh.</summary>
    public const int MaxRemembered = 10_000;

    private readonly ConcurrentDictionary<string, Grant> _grants = new(StringComparer.Ordinal);
    private readonly CacheOptions _options = options.Value;
    private long _served;

    /// <summary>An <c>Authorization</c> header's standing: who it is, until when.</summary>
    private readonly record struct Grant(string? User, DateTimeOffset Until);

    /// <summary>The first path segments of other endpoints' routes (<see cref="Everything"/>: one begins with a parameter).</summary>
    private sealed record Reserved(HashSet<string> Segments, bool Everything);

    /// <summary>A request taken: its file, pinned, its path and the ranges it asks for.</summary>
    private sealed record Taken(FileLease Lease, CachePath Path, CacheApi.AskedRanges Asked);

    /// <inheritdoc />
    public override string EndpointName => ReadEndpoint;

    /// <summary>Reads answered in this lane since the start.</summary>
    public long Served => Interlocked.Read(ref _served);

    /// <summary>
    /// Called by the read endpoint, which the pipeline reaches only once the caller is authorized for it: remembers
    /// the caller's <c>Authorization</c> header, word for word, until the token expires or the token handler would
    /// validate it again, whichever is sooner.
    /// </summary>
    public void Remember(HttpContext context)
    {
        var header = context.Request.Headers.Authorization;
        // No longer than the token handler itself takes the token on trust: it asks again a minute after it last
        // validated it (and may then refuse it), and never trusts a token past its expiry.
        if (header.Count != 1 || header[0] is not { Length: > 7 } value || !value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
            || context.User.Identity?.IsAuthenticated != true
            || _tokens.Value is not { } handler || !handler.TryGetRemembered(value[7..].Trim(), out var until))
        {
            return;
        }

        var known = _grants.TryGetValue(value, out var grant);
        if (until <= time.GetUtcNow() || (known && grant.Until >= until))
        {
            return;
        }

        if (!known && _grants.Count >= MaxRemembered)
        {
            _grants.Clear();
        }

        _grants[value] = new Grant(UserOf(context), until);
    }

    /// <inheritdoc />
    public override bool TryTake(HttpContext context, out string? user, out object? state)
    {
        user = null;
        state = null;
        var request = context.Request;
        if (!HttpMethods.IsGet(request.Method) || request.Path.Value is not { } path || IsReserved(path))
        {
            return false;
        }

        var authorization = request.Headers.Authorization;
        if (authorization.Count == 0)
        {
            if (!_options.AllowAnonymousReads)
            {
                return false;
            }
        }
        else if (authorization.Count == 1 && _grants.TryGetValue(authorization[0]!, out var grant) && time.GetUtcNow() < grant.Until)
        {
            user = grant.User;
        }
        else
        {
            return false;
        }

        // Preconditions are rare and the pipeline's to judge.
        if (request.Headers.IfNoneMatch.Count > 0 || request.Headers.IfRange.Count > 0
            || CacheApi.Locate(context, path, "", router, out var located) is not null
            || cache.TryOpenFresh(located.Origin, located.RelativePath) is not { } lease)
        {
            return false;
        }

        var file = lease.File;
        var ranges = CacheApi.Ranges(request, null, file.Content.EntityTag, file.Content.LastModified, file.Length, _options.MaxRanges, out var partial, out var error);
        if (error is not null || file.Length == 0 || !AllPresent(file, ranges))
        {
            lease.Dispose();
            return false;
        }

        state = new Taken(lease, located.Path, new CacheApi.AskedRanges(ranges, partial));
        return true;
    }

    /// <inheritdoc />
    public override void Release(object? state) => (state as Taken)?.Lease.Dispose();

    /// <inheritdoc />
    public override async Task ServeAsync(HttpContext context, object? state)
    {
        var taken = (Taken)state!;
        using (taken.Lease)
        {
            // The read endpoint's, for what reads it after (the route in request metrics and span names).
            context.SetEndpoint(_readEndpoint.Value);
            Interlocked.Increment(ref _served);
            await CacheApi.ServeFileAsync(context, taken.Lease, taken.Path, _options, metrics, logger, taken.Asked);
        }
    }

    private static bool AllPresent(CachedFile file, List<CacheApi.ByteRange> ranges)
    {
        foreach (var range in ranges)
        {
            for (long block = range.Start / file.BlockSize, last = (range.Start + range.Length - 1) / file.BlockSize; block <= last; block++)
            {
                if (!file.IsPresent(block))
                {
                    return false;
                }
            }
        }

        return true;
    }

    /// <summary>
    /// Whether a path's first segment is one another endpoint's route begins with (<c>/v1/…</c>, <c>/health</c>…):
    /// such paths are the router's to send, whatever the method.
    /// </summary>
    internal bool IsReserved(string path)
    {
        var reserved = _reserved.Value;
        var start = path.StartsWith('/') ? 1 : 0;
        var end = path.IndexOf('/', start);
        var first = end < 0 ? path.AsSpan(start) : path.AsSpan(start, end - start);
        return reserved.Everything || reserved.Segments.GetAlternateLookup<ReadOnlySpan<char>>().Contains(first);
    }

    /// <summary>
    /// The literal first segments of every other endpoint's route; were one to begin with a parameter, any path
    /// could be its, and the lane takes nothing.
    /// </summary>
    private static Reserved ReservedFirstSegments(EndpointDataSource endpoints)
    {
        var reserved = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var everything = false;
        foreach (var endpoint in endpoints.Endpoints.OfType<RouteEndpoint>())
        {
            if (endpoint.Metadata.GetMetadata<IEndpointNameMetadata>()?.EndpointName == ReadEndpoint)
            {
                continue;
            }

            if (endpoint.RoutePattern.PathSegments is [{ Parts: [RoutePatternLiteralPart { Content.Length: > 0 } literal] }, ..])
            {
                reserved.Add(literal.Content);
            }
            else
            {
                everything = true;
            }
        }

        return new Reserved(reserved, everything);
    }
}
