using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Shoppe.Transfer.Storage;

/// <summary>Streams a network body into a file in whole blocks.</summary>
internal static partial class FileWriting
{
    /// <summary>
    /// Reserves the blocks of a file that is about to receive <paramref name="length"/> bytes (<c>fallocate(2)</c>; the
    /// file is that long from then on). Allocating as the writes come (ext4's delayed allocation) cost a third of a
    /// 1 GiB pull's rate: 0.9–1.3 GB/s without, 1.5–1.9 GB/s with (docs/performance.md, "Transfer"). A disk without
    /// room says so before anything is sent; a file system that cannot reserve is simply written.
    /// </summary>
    /// <exception cref="IOException">There is not room for the file.</exception>
    public static void Preallocate(SafeFileHandle file, long length)
    {
        if (length <= 0 || !OperatingSystem.IsLinux())
        {
            return;
        }

        var added = false;
        try
        {
            file.DangerousAddRef(ref added);
            if (Fallocate((int)file.DangerousGetHandle(), 0, 0, length) != 0 && Marshal.GetLastPInvokeError() is ENOSPC or EDQUOT)
            {
                throw new IOException($"There is not enough free space for {length} bytes.", ENOSPC);
            }
        }
        finally
        {
            if (added)
            {
                file.DangerousRelease();
            }
        }
    }

    /// <summary>Whether a failed write or reservation was for want of space (ENOSPC, EDQUOT).</summary>
    public static bool IsDiskFull(IOException ex) => ex is not null && (ex.HResult & 0xFFFF) is ENOSPC or EDQUOT;

    private const int ENOSPC = 28;
    private const int EDQUOT = 122;

    [LibraryImport("libc", EntryPoint = "fallocate", SetLastError = true)]
    private static partial int Fallocate(int fd, int mode, long offset, long length);

    /// <summary>The block a file is written in.</summary>
    public const int BlockSize = 1 << 20;

    /// <summary>
    /// Copies <paramref name="source"/> into <paramref name="target"/> (opened without <see cref="FileOptions.Asynchronous"/>)
    /// a whole block at a time: the network gives a few KiB per read, the file gets 1 MiB writes made in place. A write
    /// into the page cache is a copy; handing each small one to the thread pool, as asynchronous file writes do on
    /// Linux, cost more than the copy (a 256 MiB pull: 0.49 s before, 0.33 s after, median of 8). The buffer is
    /// pooled: a fresh 1 MiB array per copy lands on the large-object heap and, over many small copies, costs a full
    /// collection every few dozen files (docs/performance.md, "Transfer").
    /// </summary>
    /// <param name="source">The body.</param>
    /// <param name="target">The file.</param>
    /// <param name="onRead">Called with each read's byte count (progress, inactivity timers).</param>
    /// <param name="onBlock">Called with each block written (checksums).</param>
    /// <param name="cancellationToken">Stops the copy.</param>
    /// <returns>The bytes copied.</returns>
    public static async Task<long> CopyAsync(Stream source, FileStream target, Action<int>? onRead, Action<ReadOnlyMemory<byte>>? onBlock, CancellationToken cancellationToken)
    {
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(BlockSize);
        long total = 0;
        try
        {
            int n;
            var filled = 0;
            while ((n = await source.ReadAsync(buffer.AsMemory(filled, BlockSize - filled), cancellationToken)) > 0)
            {
                onRead?.Invoke(n);
                filled += n;
                total += n;
                if (filled == BlockSize)
                {
                    target.Write(buffer, 0, filled);
                    onBlock?.Invoke(buffer.AsMemory(0, filled));
                    filled = 0;
                }
            }

            target.Write(buffer, 0, filled);
            onBlock?.Invoke(buffer.AsMemory(0, filled));
            return total;
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
