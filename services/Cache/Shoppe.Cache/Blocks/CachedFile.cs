using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Text;
using Microsoft.Win32.SafeHandles;
using Shoppe.Cache.Origins;

namespace Shoppe.Cache.Blocks;

/// <summary>
/// One origin file in the cache: a sparse data file of its blocks and a block map (<c>.cinfo</c>, as XCache
/// calls it) naming the blocks that are there. The map on disk only ever names blocks whose bytes were made
/// durable before it was written, so a crash or <c>kill -9</c> at any moment leaves no block claimed that
/// was not wholly written: at worst a block is fetched again.
/// </summary>
internal sealed class CachedFile
{
    private readonly Lock _gate = new();
    private ulong[] _present;
    private bool _dirty;
    private SafeFileHandle? _data;

    public CachedFile(string key, string origin, string relativePath, string dataPath, int blockSize, OriginFile content)
    {
        Key = key;
        Origin = origin;
        RelativePath = relativePath;
        DataPath = dataPath;
        BlockSize = blockSize;
        Content = content;
        _present = new ulong[(BlockCount + 63) / 64];
    }

    public string Key { get; }

    public string Origin { get; }

    public string RelativePath { get; }

    /// <summary>How the cache looks the file up (<see cref="BlockCache.NameOf"/>).</summary>
    public string Name => BlockCache.NameOf(Origin, RelativePath);

    public string DataPath { get; }

    public string InfoPath => DataPath + ".cinfo";

    public int BlockSize { get; }

    /// <summary>The origin's file these blocks were made from.</summary>
    public OriginFile Content { get; private set; }

    public long Length => Content.Length;

    public long BlockCount => (Content.Length + BlockSize - 1) / BlockSize;

    /// <summary>When the origin last confirmed <see cref="Content"/> (never, for a file found on disk at start).</summary>
    public DateTimeOffset ValidatedAt { get; set; } = DateTimeOffset.MinValue;

    /// <summary>Last use, for least-recently-used eviction.</summary>
    public long LastAccessTicks;

    /// <summary>Readers and fetches using the file: eviction passes it by while this is above zero.</summary>
    public int Users;

    /// <summary>Evicted or removed: whoever finds it must look the file up afresh.</summary>
    public bool Gone { get; private set; }

    /// <summary>Held while claiming blocks to fetch.</summary>
    public Lock FetchGate { get; } = new();

    /// <summary>Blocks being fetched, each with the task that completes when it is on disk.</summary>
    public ConcurrentDictionary<long, Task> Fetching { get; } = new();

    /// <summary>Where the last read ended, to tell a reader going forward through the file (read-ahead).</summary>
    public long LastReadEnd = -1;

    /// <summary>1 while a whole-file prefetch runs.</summary>
    public int Prefetching;

    /// <summary>Bytes of blocks present.</summary>
    public long CachedBytes { get; private set; }

    public bool IsPresent(long block) => (Volatile.Read(ref _present[block >> 6]) & (1UL << (int)(block & 63))) != 0;

    public long BlockLength(long block) => Math.Min(BlockSize, Length - (block * BlockSize));

    /// <summary>Records a block as written (not yet durable: the next flush makes it so).</summary>
    /// <returns>The bytes newly cached.</returns>
    public long MarkPresent(long block)
    {
        lock (_gate)
        {
            ref var word = ref _present[block >> 6];
            var bit = 1UL << (int)(block & 63);
            if ((word & bit) != 0)
            {
                return 0;
            }

            Volatile.Write(ref word, word | bit);
            _dirty = true;
            var n = BlockLength(block);
            CachedBytes += n;
            return n;
        }
    }

    public int CountPresent()
    {
        var n = 0;
        foreach (var word in _present)
        {
            n += System.Numerics.BitOperations.PopCount(word);
        }

        return n;
    }

    /// <summary>The data file, opened once and kept while the file is cached.</summary>
    public SafeFileHandle Data
    {
        get
        {
            lock (_gate)
            {
                ObjectDisposedException.ThrowIf(Gone || _closed, this);
                return _data ??= File.OpenHandle(DataPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
            }
        }
    }

    /// <summary>Closes the data file for good (the cache is stopping).</summary>
    public void Close()
    {
        lock (_gate)
        {
            _closed = true;
            _data?.Dispose();
            _data = null;
        }
    }

    private bool _closed;

    /// <summary>Pins the file against eviction; false if it has already gone.</summary>
    public bool TryPin()
    {
        lock (_gate)
        {
            if (Gone)
            {
                return false;
            }

            Users++;
            LastAccessTicks = Environment.TickCount64;
            return true;
        }
    }

    public void Unpin()
    {
        lock (_gate)
        {
            Users--;
            LastAccessTicks = Environment.TickCount64;
        }
    }

    /// <summary>Marks the file gone and deletes it from disk, unless someone is using it.</summary>
    /// <returns>The bytes freed, or -1 when the file is in use.</returns>
    public long TryRemove()
    {
        lock (_gate)
        {
            if (Users > 0 || !Fetching.IsEmpty)
            {
                return -1;
            }

            Gone = true;
            _data?.Dispose();
            _data = null;
            // The map first: a data file without its map is never served; a map without its data would be.
            File.Delete(InfoPath);
            File.Delete(DataPath);
            return CachedBytes;
        }
    }

    /// <summary>
    /// The origin's file changed: forget every block, durably, before any block of the new content is written.
    /// Only when the caller (holding one pin) is the file's only user and nothing of it is being fetched: a
    /// reader part-way through the old content must not be handed blocks of the new one.
    /// </summary>
    /// <returns>The bytes dropped, or -1 when the file is in use and was left as it is.</returns>
    public long Reset(OriginFile content)
    {
        lock (_gate)
        {
            if (Users != 1 || !Fetching.IsEmpty)
            {
                return -1;
            }

            var dropped = CachedBytes;
            Content = content;
            _present = new ulong[(BlockCount + 63) / 64];
            _generation++;
            CachedBytes = 0;
            WriteInfo(_present);
            _data?.Dispose();
            _data = null;
            File.Delete(DataPath);
            _dirty = false;
            return dropped;
        }
    }

    /// <summary>Bumped by every reset: a flush that began before one must not write its map after it.</summary>
    private long _generation;

    /// <summary>
    /// Makes what is written durable: the data file's blocks first, then a map naming only the blocks that
    /// were present before the data was synced.
    /// </summary>
    public void Flush()
    {
        ulong[] snapshot;
        SafeFileHandle? data;
        long generation;
        lock (_gate)
        {
            if (!_dirty || Gone)
            {
                return;
            }

            snapshot = (ulong[])_present.Clone();
            data = _data;
            generation = _generation;
            _dirty = false;
        }

        try
        {
            if (data is not null && !data.IsClosed)
            {
                RandomAccess.FlushToDisk(data);
            }

            lock (_gate)
            {
                if (!Gone && generation == _generation)
                {
                    WriteInfo(snapshot);
                }
            }
        }
        catch
        {
            // Not durable, so not named: the next flush tries again.
            lock (_gate)
            {
                _dirty = true;
            }

            throw;
        }
    }

    /// <summary>Writes the map: to a temporary name, synced, then renamed over the old one.</summary>
    private void WriteInfo(ulong[] bits)
    {
        var etag = Encoding.UTF8.GetBytes(Content.ETag ?? "");
        var origin = Encoding.UTF8.GetBytes(Origin);
        var path = Encoding.UTF8.GetBytes(RelativePath);
        var size = 4 + 4 + 4 + 8 + 8 + 4 + etag.Length + 4 + origin.Length + 4 + path.Length + 4 + (bits.Length * 8);
        var buffer = new byte[size];
        var span = buffer.AsSpan();
        "SHPC"u8.CopyTo(span);
        BinaryPrimitives.WriteInt32LittleEndian(span[4..], FormatVersion);
        BinaryPrimitives.WriteInt32LittleEndian(span[8..], BlockSize);
        BinaryPrimitives.WriteInt64LittleEndian(span[12..], Content.Length);
        BinaryPrimitives.WriteInt64LittleEndian(span[20..], Content.LastModified?.UtcTicks ?? 0);
        var at = 28;
        foreach (var field in new[] { etag, origin, path })
        {
            BinaryPrimitives.WriteInt32LittleEndian(span[at..], field.Length);
            field.CopyTo(span[(at + 4)..]);
            at += 4 + field.Length;
        }

        BinaryPrimitives.WriteInt32LittleEndian(span[at..], bits.Length);
        at += 4;
        foreach (var word in bits)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(span[at..], word);
            at += 8;
        }

        var temp = InfoPath + ".tmp";
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1))
        {
            stream.Write(buffer);
            stream.Flush(flushToDisk: true);
        }

        File.Move(temp, InfoPath, overwrite: true);
        // The rename is durable only once the folder is: until then a crash could bring back the older map.
        DirectorySync.Sync(Path.GetDirectoryName(InfoPath)!);
    }

    private const int FormatVersion = 1;

    /// <summary>Reads a map written by <see cref="WriteInfo"/>; null for anything damaged or of another block size.</summary>
    public static CachedFile? Load(string infoPath, int blockSize)
    {
        try
        {
            var span = File.ReadAllBytes(infoPath).AsSpan();
            if (span.Length < 32 || !span[..4].SequenceEqual("SHPC"u8) || BinaryPrimitives.ReadInt32LittleEndian(span[4..]) != FormatVersion
                || BinaryPrimitives.ReadInt32LittleEndian(span[8..]) != blockSize)
            {
                return null;
            }

            var length = BinaryPrimitives.ReadInt64LittleEndian(span[12..]);
            var modifiedTicks = BinaryPrimitives.ReadInt64LittleEndian(span[20..]);
            var at = 28;
            var fields = new string[3];
            for (var i = 0; i < 3; i++)
            {
                var n = BinaryPrimitives.ReadInt32LittleEndian(span[at..]);
                fields[i] = Encoding.UTF8.GetString(span.Slice(at + 4, n));
                at += 4 + n;
            }

            var words = BinaryPrimitives.ReadInt32LittleEndian(span[at..]);
            at += 4;
            if (length < 0 || words != ((((length + blockSize - 1) / blockSize) + 63) / 64) || span.Length != at + (words * 8))
            {
                return null;
            }

            var content = new OriginFile(length, fields[0].Length == 0 ? null : fields[0], modifiedTicks == 0 ? null : new DateTimeOffset(modifiedTicks, TimeSpan.Zero));
            var file = new CachedFile(Path.GetFileNameWithoutExtension(infoPath), fields[1], fields[2], infoPath[..^".cinfo".Length], blockSize, content);
            for (var w = 0; w < words; w++)
            {
                file._present[w] = BinaryPrimitives.ReadUInt64LittleEndian(span[(at + (w * 8))..]);
            }

            // A map may outlive a data file removed by hand: then nothing is present.
            if (!File.Exists(file.DataPath))
            {
                Array.Clear(file._present);
            }

            for (long b = 0; b < file.BlockCount; b++)
            {
                if (file.IsPresent(b))
                {
                    file.CachedBytes += file.BlockLength(b);
                }
            }

            file.LastAccessTicks = Environment.TickCount64 - (long)(DateTime.UtcNow - File.GetLastWriteTimeUtc(infoPath)).TotalMilliseconds;
            return file;
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Writes the first map of a newly cached file (before any block of it is written).</summary>
    public void Create()
    {
        lock (_gate)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(DataPath)!);
            // Empty, whatever another opener may already have filled: those blocks are named at their flush.
            WriteInfo(new ulong[_present.Length]);
        }
    }
}
