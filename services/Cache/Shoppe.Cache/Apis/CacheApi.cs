using System.Buffers;
using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.Headers;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;
using Shoppe.Security;
using Shoppe.ServiceDefaults;
using Shoppe.ServiceDefaults.RequestIds;
using Shoppe.Http.AccessLines;
using Shoppe.Http.SendFile;
using Shoppe.Cache.Blocks;
using Shoppe.Cache.Origins;

namespace Shoppe.Cache.Apis;

/// <summary>
/// The cache's HTTP face: <c>GET|HEAD /&lt;path&gt;</c> with single and multiple ranges (RFC 9110 §14,
/// <c>multipart/byteranges</c> for several), <c>GET /v1/stats</c> and, for operators,
/// <c>DELETE /v1/cache/&lt;path&gt;</c>.
/// </summary>
internal static partial class CacheApi
{
    public static WebApplication MapCacheApi(this WebApplication app)
    {
        var options = app.Services.GetRequiredService<IOptions<CacheOptions>>().Value;
        // Reads come by the thousand a second for one user request: one access line per request id every few seconds.
        var read = app.MapMethods("/{**path}", [HttpMethods.Get, HttpMethods.Head], ServeAsync).WithName(HotReads.ReadEndpoint).WithSummarizedAccessLog();
        if (options.AllowAnonymousReads)
        {
            read.AllowAnonymous();
        }
        else
        {
            read.RequireAuthorization(ShoppeClaims.UserPolicy);
        }

        app.MapGet("/v1/stats", (CacheMetrics metrics) => TypedResults.Ok(metrics.Snapshot())).RequireAuthorization(ShoppeClaims.UserPolicy);
        app.MapDelete("/v1/cache/{**path}", Remove).RequireAuthorization(ShoppeClaims.OperatorPolicy);
        return app;
    }

    private static IResult Remove(HttpContext context, string path, BlockCache cache, OriginRouter router)
    {
        if (Locate(context, "/" + path, "/v1/cache", router, out var located) is { } problem)
        {
            return problem;
        }

        try
        {
            return cache.Remove(located.Origin, located.RelativePath)
                ? TypedResults.NoContent()
                : Problem(StatusCodes.Status404NotFound, "Not cached", $"{located.Path} is not in the cache.");
        }
        catch (CachedFileInUseException ex)
        {
            return Problem(StatusCodes.Status409Conflict, "File in use", ex.Message);
        }
    }

    /// <summary>A checked path and the origin that serves it.</summary>
    internal readonly record struct Located(CachePath Path, IOrigin Origin, string RelativePath);

    /// <summary>
    /// Checks a path (against the raw request target after <paramref name="routePrefix"/> too) and finds its
    /// origin; the problem to answer when either fails.
    /// </summary>
    internal static Microsoft.AspNetCore.Http.HttpResults.ProblemHttpResult? Locate(HttpContext context, string? path, string routePrefix, OriginRouter router, out Located located)
    {
        located = default;
        var raw = context.Features.Get<IHttpRequestFeature>()?.RawTarget;
        raw = raw is not null && raw.StartsWith(routePrefix, StringComparison.OrdinalIgnoreCase) ? raw[routePrefix.Length..] : raw;
        if (!CachePath.TryParse(path, out var cachePath, out var error, raw))
        {
            return Problem(StatusCodes.Status400BadRequest, "Bad path", error);
        }

        if (router.Resolve(cachePath) is not var (origin, relative))
        {
            return Problem(StatusCodes.Status404NotFound, "No origin", $"No origin serves {cachePath}.");
        }

        located = new Located(cachePath, origin, relative);
        return null;
    }

    private static Microsoft.AspNetCore.Http.HttpResults.ProblemHttpResult Problem(int status, string title, string detail) =>
        TypedResults.Problem(statusCode: status, title: title, detail: detail);

    private static async Task ServeAsync(HttpContext context, BlockCache cache, OriginRouter router, IOptions<CacheOptions> options, CacheMetrics metrics, ILogger<BlockCache> logger, HotReads hotReads)
    {
        // Authorized by the whole pipeline: the caller's next reads of cached blocks may take the front lane.
        hotReads.Remember(context);
        if (Locate(context, context.Request.Path.Value, "", router, out var located) is { } problem)
        {
            await problem.ExecuteAsync(context);
            return;
        }

        var (path, origin, relative) = located;

        var aborted = context.RequestAborted;
        FileLease? lease;
        try
        {
            lease = await cache.OpenAsync(origin, relative, aborted);
        }
        catch (OriginUnavailableException ex)
        {
            LogOriginDown(logger, path.Value, ex.Message);
            await Problem(StatusCodes.Status502BadGateway, "Origin unavailable", $"Origin {origin.Name} could not be reached and {path} is not cached.").ExecuteAsync(context);
            return;
        }
        catch (CacheFullException ex)
        {
            await Problem(StatusCodes.Status507InsufficientStorage, "Cache full", ex.Message).ExecuteAsync(context);
            return;
        }

        if (lease is null)
        {
            await Problem(StatusCodes.Status404NotFound, "Not found", $"{path} does not exist at origin {origin.Name}.").ExecuteAsync(context);
            return;
        }

        using (lease)
        {
            await ServeFileAsync(context, lease, path, options.Value, metrics, logger);
        }
    }

    /// <summary>The ranges a request asks for, as <see cref="Ranges"/> found them, and whether the answer is partial.</summary>
    internal sealed record AskedRanges(List<ByteRange> Ranges, bool Partial);

    /// <summary>Answers a read of a file the cache holds; <paramref name="asked"/>: its ranges, where the caller has found them already.</summary>
    internal static async Task ServeFileAsync(HttpContext context, FileLease lease, CachePath path, CacheOptions options, CacheMetrics metrics, ILogger logger, AskedRanges? asked = null)
    {
        var file = lease.File;
        var length = file.Length;
        var request = context.Request;
        var response = context.Response;
        response.Headers.AcceptRanges = "bytes";
        // An origin's validator that is not a valid entity tag is not passed on.
        var etag = file.Content.EntityTag;
        if (etag is not null)
        {
            response.Headers.ETag = file.Content.ETag;
        }

        if (file.Content.LastModifiedHeader is { } modified)
        {
            response.Headers.LastModified = modified;
        }

        // Typed (parsed) request headers only when a precondition needs them: most reads carry none.
        var requestHeaders = request.Headers.IfNoneMatch.Count > 0 || request.Headers.IfRange.Count > 0 ? request.GetTypedHeaders() : null;
        if (etag is not null && requestHeaders?.IfNoneMatch is { Count: > 0 } noneMatch
            && noneMatch.Any(t => t.Equals(EntityTagHeaderValue.Any) || t.Compare(etag, useStrongComparison: false)))
        {
            response.StatusCode = StatusCodes.Status304NotModified;
            return;
        }

        string? rangeError = null;
        var partial = asked?.Partial ?? false;
        var ranges = asked?.Ranges ?? Ranges(request, requestHeaders, etag, file.Content.LastModified, length, options.MaxRanges, out partial, out rangeError);
        if (rangeError is not null)
        {
            response.Headers.ContentRange = $"bytes */{length}";
            await Problem(StatusCodes.Status416RangeNotSatisfiable, "Range not satisfiable", rangeError).ExecuteAsync(context);
            return;
        }

        // One range is nearly every read: its answer needs no part headers (and no allocation for them).
        var boundary = ranges.Count > 1 ? Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()) : null;
        string[]? parts = null;
        var closing = boundary is null ? "" : $"\r\n--{boundary}--\r\n";
        var contentLength = (long)closing.Length;
        for (var i = 0; i < ranges.Count; i++)
        {
            contentLength += ranges[i].Length;
        }

        if (boundary is not null)
        {
            parts = new string[ranges.Count];
            for (var i = 0; i < ranges.Count; i++)
            {
                parts[i] = PartHeader(boundary, ranges[i], length);
                contentLength += parts[i].Length;
            }
        }

        response.ContentLength = contentLength;
        if (boundary is not null)
        {
            response.StatusCode = StatusCodes.Status206PartialContent;
            response.ContentType = $"multipart/byteranges; boundary={boundary}";
        }
        else
        {
            response.ContentType = "application/octet-stream";
            if (partial)
            {
                response.StatusCode = StatusCodes.Status206PartialContent;
                response.Headers.ContentRange = $"bytes {ranges[0].Start}-{ranges[0].Start + ranges[0].Length - 1}/{length}";
            }
        }

        if (HttpMethods.IsHead(request.Method) || length == 0)
        {
            return;
        }

        // The first block is on disk before anything is sent, so an origin that is down answers 502, not a
        // truncated body; later failures can only cut the connection.
        var first = ranges[0];
        try
        {
            await lease.Cache.EnsureBlock(lease.Origin, file, first.Start / file.BlockSize, countAsRequested: true, runEnd: (first.Start + first.Length - 1) / file.BlockSize)
                .WaitAsync(context.RequestAborted);
        }
        catch (OriginUnavailableException ex)
        {
            response.Headers.Remove("Content-Range");
            response.ContentLength = null;
            LogOriginDown(logger, path.Value, ex.Message);

            await Problem(StatusCodes.Status502BadGateway, "Origin unavailable", $"The requested bytes of {path} are not cached and origin {lease.Origin.Name} failed: {ex.Message}").ExecuteAsync(context);
            return;
        }
        catch (CacheFullException ex)
        {
            response.Headers.Remove("Content-Range");
            response.ContentLength = null;
            await Problem(StatusCodes.Status507InsufficientStorage, "Cache full", ex.Message).ExecuteAsync(context);
            return;
        }

        var sent = new SendTally();
        try
        {
            for (var i = 0; i < ranges.Count; i++)
            {
                if (parts is not null)
                {
                    await response.BodyWriter.WriteAsync(Encoding.ASCII.GetBytes(parts[i]), context.RequestAborted);
                }

                await SendRangeAsync(context, lease, ranges[i], options, sent);
            }

            if (boundary is not null)
            {
                await response.BodyWriter.WriteAsync(Encoding.ASCII.GetBytes(closing), context.RequestAborted);
            }

            await response.BodyWriter.FlushAsync(context.RequestAborted);
        }
        catch (Exception ex) when (ex is OriginUnavailableException or CacheFullException or IOException)
        {
            // Headers are gone: all that is left is to cut the connection, so the client sees a short body.
            LogCutShort(logger, path.Value, sent.Bytes, ex.Message);

            context.Abort();
            return;
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            return;
        }
        finally
        {
            metrics.Hit(sent.Hits);
            metrics.Served(sent.Bytes);
        }

        var last = ranges[^1];
        var end = last.Start + last.Length;
        var sequential = first.Start == Interlocked.Exchange(ref file.LastReadEnd, end) || last.Length >= file.BlockSize;
        if (sequential && options.ReadAheadBlocks > 0)
        {
            var lastBlock = (end - 1) / file.BlockSize;
            var aheadEnd = Math.Min(file.BlockCount - 1, lastBlock + options.ReadAheadBlocks);
            for (var b = lastBlock + 1; b <= aheadEnd; b++)
            {
                _ = lease.Cache.EnsureBlock(lease.Origin, file, b, countAsRequested: false, runEnd: aheadEnd);
            }
        }

        if (options.PrefetchWholeFile)
        {
            lease.Cache.Prefetch(lease.Origin, file);
        }

        // A read that went to the origin says so at Information; one served wholly from disk is already told by
        // the access line, and a second line for it halved the small-read rate (docs/performance.md, "Cache").
        if (sent.Waited > 0)
        {
            LogServed(logger, sent.Bytes, path.Value, sent.Hits, sent.Waited, lease.Origin.Name);
        }
        else
        {
            LogServedFromCache(logger, sent.Bytes, path.Value, sent.Hits);
        }
    }

    private sealed class SendTally
    {
        public long Bytes;
        public int Hits;
        public int Waited;
    }

    /// <summary>The most present blocks handed to the response in one piece (one region, one flush).</summary>
    private const int MaxBlocksPerSend = 4;

    private static async Task SendRangeAsync(HttpContext context, FileLease lease, ByteRange range, CacheOptions options, SendTally sent)
    {
        var file = lease.File;
        var window = Math.Max(1, options.ReadAheadBlocks);
        var blockSize = file.BlockSize;
        var position = range.Start;
        var end = range.Start + range.Length;
        var lastBlock = (end - 1) / blockSize;
        for (var block = range.Start / blockSize; block <= lastBlock;)
        {
            // Keep fetches going ahead of the sender within the range.
            for (var ahead = block + 1; ahead <= Math.Min(lastBlock, block + window); ahead++)
            {
                _ = lease.Cache.EnsureBlock(lease.Origin, file, ahead, countAsRequested: true, runEnd: lastBlock);
            }

            var ready = lease.Cache.EnsureBlock(lease.Origin, file, block, countAsRequested: true, runEnd: lastBlock);
            if (ready.IsCompletedSuccessfully)
            {
                sent.Hits++;
            }
            else
            {
                sent.Waited++;
                await ready.WaitAsync(context.RequestAborted);
            }

            // The blocks after it that are already on disk go with it.
            var through = block;
            while (through < lastBlock && through - block + 1 < MaxBlocksPerSend && file.IsPresent(through + 1))
            {
                through++;
                sent.Hits++;
            }

            // From the page cache to the socket by sendfile where the connection allows, else one copy.
            var sendEnd = Math.Min(end, (through + 1) * blockSize);
            await context.Response.SendFileAsync(file.Data, position, sendEnd - position, context.RequestAborted);
            sent.Bytes += sendEnd - position;
            position = sendEnd;
            block = through + 1;
        }
    }

    private static string PartHeader(string boundary, ByteRange range, long length) =>
        $"\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes {range.Start}-{range.Start + range.Length - 1}/{length}\r\n\r\n";

    internal readonly record struct ByteRange(long Start, long Length);

    /// <summary>Whether an <c>If-Range</c> precondition says the client's ranges no longer apply (send it all).</summary>
    private static bool IsIgnoredRange(RequestHeaders? headers, EntityTagHeaderValue? etag, DateTimeOffset? modified)
    {
        if (headers?.IfRange is not { } ifRange)
        {
            return false;
        }

        if (ifRange.EntityTag is { } tag)
        {
            return etag is null || !tag.Compare(etag, useStrongComparison: true);
        }

        return modified is null || ifRange.LastModified != modified;
    }

    /// <summary>
    /// The ranges to send: the whole file when no (or an unparsable, or precondition-failed) Range header was
    /// sent, else every satisfiable range, in the order asked. <paramref name="error"/> is set when none is.
    /// </summary>
    internal static List<ByteRange> Ranges(HttpRequest request, RequestHeaders? headers, EntityTagHeaderValue? etag, DateTimeOffset? modified, long length, int maxRanges, out bool partial, out string? error)
    {
        error = null;
        partial = false;
        var whole = new List<ByteRange> { new(0, length) };
        StringValues header = request.Headers.Range;
        if (header.Count == 0 || IsIgnoredRange(headers, etag, modified))
        {
            return whole;
        }

        // RFC 9110 §14.2: a Range header that cannot be parsed, or names another unit, is ignored.
        if (!RangeHeaderValue.TryParse(header.ToString(), out var parsed) || !string.Equals(parsed.Unit.Value, "bytes", StringComparison.OrdinalIgnoreCase) || parsed.Ranges.Count == 0)
        {
            return whole;
        }

        if (parsed.Ranges.Count > maxRanges)
        {
            error = $"At most {maxRanges} ranges may be asked for at once; {parsed.Ranges.Count} were.";
            return [];
        }

        var ranges = new List<ByteRange>(parsed.Ranges.Count);
        foreach (var r in parsed.Ranges)
        {
            long start, last;
            if (r.From is { } from)
            {
                start = from;
                last = Math.Min(r.To ?? long.MaxValue, length - 1);
            }
            else if (r.To is { } suffix && suffix > 0)
            {
                start = Math.Max(0, length - suffix);
                last = length - 1;
            }
            else
            {
                continue;
            }

            if (start < length && start <= last)
            {
                ranges.Add(new ByteRange(start, last - start + 1));
            }
        }

        partial = true;
        if (ranges.Count == 0)
        {
            error = string.Create(CultureInfo.InvariantCulture, $"None of the ranges asked for lies within the file's {length} bytes.");
        }

        return ranges;
    }

    [LoggerMessage(EventId = 10, Level = LogLevel.Information, Message = "Served {Bytes} bytes of {Path}: {Hits} blocks from the cache, {Waited} waited for from origin {Origin}")]
    private static partial void LogServed(ILogger logger, long bytes, string path, int hits, int waited, string origin);

    [LoggerMessage(EventId = 13, Level = LogLevel.Debug, Message = "Served {Bytes} bytes of {Path}: {Hits} blocks, all from the cache")]
    private static partial void LogServedFromCache(ILogger logger, long bytes, string path, int hits);

    [LoggerMessage(EventId = 11, Level = LogLevel.Warning, Message = "Origin down for {Path}: {Reason}")]
    private static partial void LogOriginDown(ILogger logger, string path, string reason);

    [LoggerMessage(EventId = 12, Level = LogLevel.Error, Message = "Cut {Path} short after {Bytes} bytes: {Reason}")]
    private static partial void LogCutShort(ILogger logger, string path, long bytes, string reason);
}
