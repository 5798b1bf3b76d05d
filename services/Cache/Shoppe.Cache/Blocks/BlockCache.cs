using System.Buffers;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Shoppe.Cache.Origins;

namespace Shoppe.Cache.Blocks;

/// <summary>The disk is full and eviction could not make room (507 to the client).</summary>
public sealed class CacheFullException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The file is being read or filled; an operator's removal waits for it (409).</summary>
public sealed class CachedFileInUseException(string message) : Exception(message);

/// <summary>
/// The block cache: origin files cached block by block on local disk. Concurrent misses on one block fetch
/// it once; runs of missing blocks are fetched with one range request each, in pooled buffers; disk use is
/// kept between watermarks by evicting the least recently used files nobody is reading.
/// </summary>
public sealed partial class BlockCache : IDisposable
{
    private readonly CacheOptions _options;
    private readonly CacheMetrics _metrics;
    private readonly ILogger<BlockCache> _logger;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, CachedFile> _files = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _originSlots;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _evicting = new();
    private long _usedBytes;

    /// <summary>Opens the cache in <paramref name="root"/>, taking up every block map found there.</summary>
    public BlockCache(string root, IOptions<CacheOptions> options, CacheMetrics metrics, ILogger<BlockCache> logger, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Value;
        _metrics = metrics;
        _logger = logger;
        _time = time;
        Root = Path.GetFullPath(root);
        Directory.CreateDirectory(Root);
        _originSlots = new SemaphoreSlim(_options.MaxOriginRequests);
        // One walk of the cache folder: maps are taken up, half-written maps removed, and a data file without its
        // map (a crash between removing the one and the other) removed too: it is never served nor counted, and
        // would only hold disk under the file-system watermark.
        var found = Directory.EnumerateFiles(Root, "*", SearchOption.AllDirectories).ToHashSet(StringComparer.Ordinal);
        foreach (var path in found)
        {
            if (path.EndsWith(".cinfo.tmp", StringComparison.Ordinal))
            {
                File.Delete(path);
            }
            else if (path.EndsWith(".cinfo", StringComparison.Ordinal))
            {
                if (CachedFile.Load(path, _options.BlockSize) is { } file && _files.TryAdd(file.Name, file))
                {
                    _usedBytes += file.CachedBytes;
                }
                else
                {
                    // Damaged, or made with another block size: start that file afresh.
                    File.Delete(path);
                    File.Delete(path[..^".cinfo".Length]);
                }
            }
            else if (Path.GetFileName(path) is { Length: 64 } key && key.All(char.IsAsciiHexDigitLower) && !found.Contains(path + ".cinfo"))
            {
                File.Delete(path);
            }
        }

        _metrics.ObserveCache(this);
        LogOpened(_logger, Root, _files.Count, _usedBytes);
    }

    /// <summary>The cache folder.</summary>
    public string Root { get; }

    /// <summary>Bytes of cached blocks.</summary>
    public long UsedBytes => Interlocked.Read(ref _usedBytes);

    /// <summary>Files with blocks in the cache.</summary>
    public int FileCount => _files.Count;

    /// <summary>The stable name of an origin file in the cache folder: a hash, so no client text names a file there.</summary>
    private static string KeyOf(string origin, string relativePath) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(NameOf(origin, relativePath))));

    /// <summary>How the cache looks a file up (hashed only when a file is first cached).</summary>
    internal static string NameOf(string origin, string relativePath) => origin + "\n" + relativePath;

    private string DataPathOf(string key) => Path.Combine(Root, key[..2], key);

    /// <summary>
    /// Opens a file for reading: the cached one if the origin still has the same content (asked at most every
    /// <see cref="CacheOptions.RevalidateAfter"/>), else a fresh one. With the origin down, what is cached of
    /// a file is still served.
    /// </summary>
    /// <returns>The file, pinned; null when the origin has no such file (an answer, not a failure: no exception).</returns>
    /// <exception cref="OriginUnavailableException">The origin is down and nothing of the file is cached.</exception>
    internal async Task<FileLease?> OpenAsync(IOrigin origin, string relativePath, CancellationToken cancellationToken)
    {
        var name = NameOf(origin.Name, relativePath);
        while (true)
        {
            if (_files.TryGetValue(name, out var file))
            {
                if (!file.TryPin())
                {
                    _files.TryRemove(new KeyValuePair<string, CachedFile>(name, file));
                    continue;
                }

                try
                {
                    if (_time.GetUtcNow() - file.ValidatedAt > _options.RevalidateAfter && !await RevalidateAsync(origin, file, cancellationToken))
                    {
                        file.Unpin();
                        return null;
                    }

                    return new FileLease(this, origin, file);
                }
                catch
                {
                    file.Unpin();
                    throw;
                }
            }

            if (await origin.StatAsync(relativePath, cancellationToken) is not { } content)
            {
                return null;
            }

            var key = KeyOf(origin.Name, relativePath);
            var created = new CachedFile(key, origin.Name, relativePath, DataPathOf(key), _options.BlockSize, content) { ValidatedAt = _time.GetUtcNow() };
            created.TryPin();
            if (_files.TryAdd(name, created))
            {
                try
                {
                    created.Create();
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    created.Unpin();
                    _files.TryRemove(new KeyValuePair<string, CachedFile>(name, created));
                    throw new CacheFullException($"The cache could not record {relativePath}: {ex.Message}", ex);
                }

                return new FileLease(this, origin, created);
            }
        }
    }

    /// <summary>
    /// The cached file, pinned, when it is known and was validated against its origin within
    /// <see cref="CacheOptions.RevalidateAfter"/>: what <see cref="OpenAsync"/> would give at once, with no wait; null
    /// when opening it would ask the origin.
    /// </summary>
    internal FileLease? TryOpenFresh(IOrigin origin, string relativePath)
    {
        if (!_files.TryGetValue(NameOf(origin.Name, relativePath), out var file)
            || _time.GetUtcNow() - file.ValidatedAt > _options.RevalidateAfter
            || !file.TryPin())
        {
            return null;
        }

        return new FileLease(this, origin, file);
    }

    /// <summary>Asks the origin whether a cached file is still its content; false when the origin no longer has it.</summary>
    private async Task<bool> RevalidateAsync(IOrigin origin, CachedFile file, CancellationToken cancellationToken)
    {
        OriginFile? now;
        try
        {
            now = await origin.StatAsync(file.RelativePath, cancellationToken);
        }
        catch (OriginUnavailableException ex)
        {
            if (file.CachedBytes == 0)
            {
                throw;
            }

            // Serve what is cached; ask again next time.
            LogServingStale(_logger, file.RelativePath, origin.Name, ex.Message);
            return true;
        }

        if (now is null)
        {
            // Left for eviction; every open asks the origin again until then.
            return false;
        }

        if (!now.SameContentAs(file.Content))
        {
            var dropped = file.Reset(now);
            if (dropped < 0)
            {
                // Someone is still reading or filling the old content: they finish on it, this reader too, and
                // the next open asks the origin again.
                return true;
            }

            LogChanged(_logger, file.RelativePath, origin.Name);
            Interlocked.Add(ref _usedBytes, -dropped);
        }

        file.ValidatedAt = _time.GetUtcNow();
        return true;
    }

    /// <summary>
    /// The task that completes when <paramref name="block"/> is on disk: done if it is there, the fetch in flight
    /// if another reader asked first, else a new fetch of the run of missing blocks it starts.
    /// </summary>
    /// <param name="origin">Where the file comes from.</param>
    /// <param name="file">The file.</param>
    /// <param name="block">The block wanted.</param>
    /// <param name="countAsRequested">Whether a reader is waiting for it (a miss) rather than reading ahead.</param>
    /// <param name="runEnd">The last block a new run may take in with it (the end of what the reader asked for, or of the read-ahead).</param>
    internal Task EnsureBlock(IOrigin origin, CachedFile file, long block, bool countAsRequested, long runEnd)
    {
        if (file.IsPresent(block))
        {
            return Task.CompletedTask;
        }

        if (file.Fetching.TryGetValue(block, out var inFlight))
        {
            return inFlight;
        }

        return StartRun(origin, file, block, countAsRequested, runEnd);
    }

    private Task StartRun(IOrigin origin, CachedFile file, long first, bool requested, long runEnd)
    {
        // Claim the run: consecutive blocks from `first` that are neither present nor being fetched.
        var sources = new List<TaskCompletionSource>(_options.FetchRunBlocks);
        Task result;
        lock (file.FetchGate)
        {
            if (file.IsPresent(first))
            {
                return Task.CompletedTask;
            }

            if (file.Fetching.TryGetValue(first, out var raced))
            {
                return raced;
            }

            for (var b = first; b <= Math.Min(runEnd, file.BlockCount - 1) && sources.Count < _options.FetchRunBlocks && !file.IsPresent(b) && !file.Fetching.ContainsKey(b); b++)
            {
                var source = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                file.Fetching[b] = source.Task;
                sources.Add(source);
            }

            result = sources[0].Task;
        }

        if (!file.TryPin())
        {
            var gone = new ObjectDisposedException(file.RelativePath);
            foreach (var (source, i) in sources.Select((s, i) => (s, i)))
            {
                file.Fetching.TryRemove(first + i, out _);
                source.TrySetException(gone);
            }

            return result;
        }

        Interlocked.Increment(ref _fetches);
        _ = FetchRunAsync(origin, file, first, sources, requested);
        return result;
    }

    private async Task FetchRunAsync(IOrigin origin, CachedFile file, long first, List<TaskCompletionSource> sources, bool requested)
    {
        var done = 0;
        var buffer = ArrayPool<byte>.Shared.Rent(file.BlockSize);
        try
        {
            await _originSlots.WaitAsync(_stopping.Token);
            try
            {
                var offset = first * file.BlockSize;
                var length = Math.Min((long)sources.Count * file.BlockSize, file.Length - offset);
                // Each block must arrive within the origin timeout: a stalled origin fails the run (502 to its
                // readers) instead of holding them, the file and an origin slot forever.
                using var stall = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
                await using var stream = await origin.OpenRangeAsync(file.RelativePath, offset, length, file.Content, stall.Token);
                for (; done < sources.Count; done++)
                {
                    var block = first + done;
                    var n = (int)file.BlockLength(block);
                    try
                    {
                        stall.CancelAfter(_options.OriginTimeout);
                        await stream.ReadExactlyAsync(buffer.AsMemory(0, n), stall.Token);
                    }
                    catch (EndOfStreamException ex)
                    {
                        throw new OriginUnavailableException($"Origin {origin.Name} ended {file.RelativePath} early, in block {block}.", ex);
                    }
                    catch (IOException ex)
                    {
                        throw new OriginUnavailableException($"Origin {origin.Name} failed while sending {file.RelativePath}: {ex.Message}", ex);
                    }

                    await WriteBlockAsync(file, block, buffer.AsMemory(0, n));
                    var added = file.MarkPresent(block);
                    Interlocked.Add(ref _usedBytes, added);
                    _metrics.Filled(added, requested);
                    // Over the high watermark: make room before the reader goes on (the file being filled is pinned).
                    EvictIfNeeded(added);
                    file.Fetching.TryRemove(block, out _);
                    sources[done].TrySetResult();
                }
            }
            finally
            {
                _originSlots.Release();
            }
        }
        catch (Exception ex)
        {
            var failure = ex is OperationCanceledException
                ? new OriginUnavailableException(_stopping.IsCancellationRequested ? "The cache is stopping." : $"Origin {origin.Name} sent nothing of {file.RelativePath} for {_options.OriginTimeout.TotalSeconds:0} s.", ex)
                : ex;
            if (failure is OriginContentChangedException)
            {
                // Ask the origin again at the next open; these readers get a 502 rather than mixed versions.
                file.ValidatedAt = DateTimeOffset.MinValue;
                failure = new OriginUnavailableException(failure.Message, failure);
            }

            if (failure is not OriginUnavailableException and not CacheFullException)
            {
                failure = new OriginUnavailableException($"Fetching {file.RelativePath} from {origin.Name} failed: {ex.Message}", ex);
            }

            LogFetchFailed(_logger, file.RelativePath, origin.Name, failure.Message);
            for (var i = done; i < sources.Count; i++)
            {
                file.Fetching.TryRemove(first + i, out _);
                sources[i].TrySetException(failure);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            file.Unpin();
            Interlocked.Decrement(ref _fetches);
        }
    }

    /// <summary>Fetch runs in flight (the cache waits for them when it stops).</summary>
    private int _fetches;

    private async ValueTask WriteBlockAsync(CachedFile file, long block, ReadOnlyMemory<byte> bytes)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await RandomAccess.WriteAsync(file.Data, bytes, block * file.BlockSize);
                return;
            }
            catch (IOException ex) when (IsDiskFull(ex))
            {
                // Another fill may have just made room (two writers meeting a full disk at once): the first
                // retry is free; after that only if this eviction freed something.
                var evicted = Evict(force: true, needed: bytes.Length);
                if (attempt >= 2 || (attempt == 1 && !evicted))
                {
                    _metrics.DiskFull();
                    throw new CacheFullException("The cache's disk is full and nothing could be evicted to make room.", ex);
                }
            }
        }
    }

    /// <summary>ENOSPC (or EDQUOT) on Linux; ERROR_DISK_FULL / ERROR_HANDLE_DISK_FULL elsewhere.</summary>
    private static bool IsDiskFull(IOException ex) => (ex.HResult & 0xFFFF) is 28 or 122 or 112 or 39;

    /// <summary>Fetches every missing block of the file in the background, a run at a time (Cache:PrefetchWholeFile).</summary>
    internal void Prefetch(IOrigin origin, CachedFile file)
    {
        if (file.CachedBytes == file.Length || Interlocked.Exchange(ref file.Prefetching, 1) == 1 || !file.TryPin())
        {
            return;
        }

        _ = Task.Run(async () =>
        {
            try
            {
                for (long b = 0; b < file.BlockCount && !_stopping.IsCancellationRequested; b++)
                {
                    await EnsureBlock(origin, file, b, countAsRequested: false, runEnd: b + _options.FetchRunBlocks - 1);
                }
            }
            catch (Exception ex) when (ex is OriginUnavailableException or CacheFullException or ObjectDisposedException)
            {
                LogFetchFailed(_logger, file.RelativePath, origin.Name, ex.Message);
            }
            finally
            {
                Volatile.Write(ref file.Prefetching, 0);
                file.Unpin();
            }
        });
    }

    /// <summary>Makes every written block durable and its block map say so (the flush loop calls this).</summary>
    public void Flush()
    {
        foreach (var file in _files.Values)
        {
            try
            {
                file.Flush();
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException)
            {
                LogFlushFailed(_logger, file.RelativePath, ex.Message);
            }
        }
    }

    /// <summary>The budget the watermarks apply to, and the use measured against it.</summary>
    public (long Budget, long Used) DiskUse()
    {
        if (_options.MaxBytes is { } max)
        {
            return (max, UsedBytes);
        }

        _drive ??= new DriveInfo(Root);
        var total = _drive.TotalSize;
        return (total, total - _drive.AvailableFreeSpace);
    }

    private DriveInfo? _drive;

    /// <summary>Bytes filled since the file system's use was last asked (it is not asked after every block).</summary>
    private long _filledSinceCheck;

    /// <summary>Fills between looks at the file system's use, when the watermarks apply to it.</summary>
    private const long FileSystemCheckBytes = 64L << 20;

    /// <summary>Evicts when use is above the high watermark (after fills and on the maintenance timer).</summary>
    public void EvictIfNeeded() => EvictIfNeeded(0);

    private void EvictIfNeeded(long filled)
    {
        // Against Cache:MaxBytes the check is arithmetic; against the file system it is a statfs, done every
        // 64 MiB of fills (looking up the file system after every block halved the cold rate; ENOSPC still
        // evicts at once, and the timer checks too).
        if (_options.MaxBytes is null && filled > 0 && Interlocked.Add(ref _filledSinceCheck, filled) < FileSystemCheckBytes)
        {
            return;
        }

        Interlocked.Exchange(ref _filledSinceCheck, 0);
        var (budget, used) = DiskUse();
        if (used > budget * _options.HighWatermark)
        {
            Evict(force: false, needed: 0);
        }
    }

    /// <summary>
    /// Evicts least recently used files nobody is using until use is under the low watermark (or, when forced
    /// by a full disk, until <paramref name="needed"/> more bytes are free).
    /// </summary>
    /// <returns>Whether anything was evicted.</returns>
    private bool Evict(bool force, long needed)
    {
        lock (_evicting)
        {
            var (budget, used) = DiskUse();
            var target = force ? used - needed - _options.BlockSize : (long)(budget * _options.LowWatermark);
            var evicted = false;
            foreach (var file in _files.Values.OrderBy(f => Volatile.Read(ref f.LastAccessTicks)).ToList())
            {
                if (used <= target)
                {
                    break;
                }

                var freed = Drop(file);
                if (freed < 0)
                {
                    continue;
                }

                _metrics.Evicted(freed);
                LogEvicted(_logger, file.RelativePath, file.Origin, freed);
                used -= freed;
                evicted = true;
            }

            return evicted;
        }
    }

    /// <summary>Removes one file from the cache (an operator's request).</summary>
    /// <returns>False when the file is not cached.</returns>
    /// <exception cref="CachedFileInUseException">Someone is reading or filling it.</exception>
    public bool Remove(IOrigin origin, string relativePath)
    {
        ArgumentNullException.ThrowIfNull(origin);
        if (!_files.TryGetValue(NameOf(origin.Name, relativePath), out var file))
        {
            return false;
        }

        if (Drop(file) < 0)
        {
            throw new CachedFileInUseException($"{relativePath} is being read or filled; try again when it is idle.");
        }

        return true;
    }

    /// <summary>Deletes a file nobody is using from disk and from the cache.</summary>
    /// <returns>The bytes freed, or -1 when the file is in use.</returns>
    private long Drop(CachedFile file)
    {
        var freed = file.TryRemove();
        if (freed >= 0)
        {
            _files.TryRemove(new KeyValuePair<string, CachedFile>(file.Name, file));
            Interlocked.Add(ref _usedBytes, -freed);
        }

        return freed;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _stopping.Cancel();
        // Every fetch stops at its next read once cancelled; none may write after the files are closed.
        SpinWait.SpinUntil(() => Volatile.Read(ref _fetches) == 0, TimeSpan.FromSeconds(10));
        Flush();
        foreach (var file in _files.Values)
        {
            file.Close();
        }

        _stopping.Dispose();
        _originSlots.Dispose();
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Cache at {Root}: {Files} files, {Bytes} bytes of blocks taken up")]
    private static partial void LogOpened(ILogger logger, string root, int files, long bytes);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "Origin {Origin} did not confirm {Path}; serving the cached blocks: {Reason}")]
    private static partial void LogServingStale(ILogger logger, string path, string origin, string reason);

    [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "{Path} changed at origin {Origin}; its cached blocks are dropped")]
    private static partial void LogChanged(ILogger logger, string path, string origin);

    [LoggerMessage(EventId = 4, Level = LogLevel.Warning, Message = "Fetching {Path} from origin {Origin} failed: {Reason}")]
    private static partial void LogFetchFailed(ILogger logger, string path, string origin, string reason);

    [LoggerMessage(EventId = 5, Level = LogLevel.Information, Message = "Evicted {Path} of origin {Origin} ({Bytes} bytes)")]
    private static partial void LogEvicted(ILogger logger, string path, string origin, long bytes);

    [LoggerMessage(EventId = 6, Level = LogLevel.Error, Message = "Flushing {Path} failed: {Reason}")]
    private static partial void LogFlushFailed(ILogger logger, string path, string reason);
}

/// <summary>A file held open for one request; eviction passes it by until disposed.</summary>
internal sealed class FileLease(BlockCache cache, IOrigin origin, CachedFile file) : IDisposable
{
    public CachedFile File => file;

    public IOrigin Origin => origin;

    public BlockCache Cache => cache;

    public void Dispose() => file.Unpin();
}
