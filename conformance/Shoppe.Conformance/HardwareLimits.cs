using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Microsoft.Win32.SafeHandles;

namespace Shoppe.Conformance;

/// <summary>
/// The limits of this machine, measured on the spot, that gates are ratios of (all in MiB/s): sequential
/// write and read of the data disk (the read with the file dropped from the page cache first), memory copy
/// bandwidth, and TCP throughput over loopback.
/// </summary>
public sealed partial record HardwareLimits(double DiskWriteMiBs, double DiskReadMiBs, double MemoryCopyMiBs, double LoopbackMiBs, long SampleBytes)
{
    /// <summary>The limit named in a gate: <c>disk.read</c>, <c>disk.write</c>, <c>memory.copy</c>, <c>loopback</c>, or <c>a|b</c> for the smaller.</summary>
    public double Named(string name) =>
        name.Split('|').Select(part => part.Trim() switch
        {
            "disk.read" => DiskReadMiBs,
            "disk.write" => DiskWriteMiBs,
            "memory.copy" => MemoryCopyMiBs,
            "loopback" => LoopbackMiBs,
            _ => throw new ArgumentException($"'{part}' is not a limit: use disk.read, disk.write, memory.copy or loopback.", nameof(name)),
        }).Min();

    /// <summary>Measures every limit (the best of <see cref="Rounds"/>) with <paramref name="sampleBytes"/> of data, writing its scratch file under <paramref name="dataFolder"/>.</summary>
    [UnsupportedOSPlatform("windows")]
    public static async Task<HardwareLimits> MeasureAsync(string dataFolder, long sampleBytes, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(dataFolder);
        var scratch = Path.Combine(dataFolder, $"limits-{Environment.ProcessId}.bin");
        double write = 0, read = 0, memory = 0, loopback = 0;
        try
        {
            // A limit is what the hardware can give: the best of a few rounds (shared and virtual machines vary).
            for (var round = 0; round < Rounds; round++)
            {
                write = Math.Max(write, await MeasureDiskWriteAsync(scratch, sampleBytes, cancellationToken));
                read = Math.Max(read, await MeasureDiskReadAsync(scratch, cancellationToken));
                File.Delete(scratch);
                memory = Math.Max(memory, MeasureMemoryCopy(Math.Min(sampleBytes, 256L << 20)));
                loopback = Math.Max(loopback, await MeasureLoopbackAsync(sampleBytes, cancellationToken));
            }

            return new HardwareLimits(write, read, memory, loopback, sampleBytes);
        }
        finally
        {
            File.Delete(scratch);
        }
    }

    private const int Block = 1 << 20;

    /// <summary>How many times each limit is measured; the best counts.</summary>
    public const int Rounds = 3;

    /// <summary>Writes the file in 1 MiB blocks and syncs it: the time includes reaching the disk.</summary>
    private static async Task<double> MeasureDiskWriteAsync(string path, long bytes, CancellationToken cancellationToken)
    {
        var buffer = new byte[Block];
        Random.Shared.NextBytes(buffer); // incompressible, as data files are
        var clock = Stopwatch.StartNew();
        await using (var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 0, FileOptions.Asynchronous))
        {
            for (long done = 0; done < bytes; done += Block)
            {
                await file.WriteAsync(buffer.AsMemory(0, (int)Math.Min(Block, bytes - done)), cancellationToken);
            }

            file.Flush(flushToDisk: true);
        }

        return MiBs(bytes, clock.Elapsed);
    }

    /// <summary>Drops the (synced) file from the page cache, then reads it sequentially: what the disk gives.</summary>
    [UnsupportedOSPlatform("windows")]
    private static async Task<double> MeasureDiskReadAsync(string path, CancellationToken cancellationToken)
    {
        using (var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read))
        {
            DropFromPageCache(handle);
        }

        var buffer = new byte[Block];
        long total = 0;
        var clock = Stopwatch.StartNew();
        await using (var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 0, FileOptions.Asynchronous | FileOptions.SequentialScan))
        {
            int n;
            while ((n = await file.ReadAsync(buffer, cancellationToken)) > 0)
            {
                total += n;
            }
        }

        return MiBs(total, clock.Elapsed);
    }

    /// <summary>Asks the kernel to forget a file's cached pages (they are clean once synced), so the next read goes to the disk.</summary>
    [UnsupportedOSPlatform("windows")]
    public static void DropFromPageCache(SafeFileHandle handle)
    {
        ArgumentNullException.ThrowIfNull(handle);
        const int PosixFadvDontNeed = 4;
        _ = NativeMethods.posix_fadvise(handle.DangerousGetHandle().ToInt32(), 0, 0, PosixFadvDontNeed);
    }

    /// <summary>Copies a buffer into another a few times; the figure counts the bytes copied (each read once and written once).</summary>
    private static double MeasureMemoryCopy(long bytes)
    {
        var from = GC.AllocateUninitializedArray<byte>((int)bytes);
        var to = GC.AllocateUninitializedArray<byte>((int)bytes);
        Random.Shared.NextBytes(from);
        from.AsSpan().CopyTo(to); // touch every page first
        const int Rounds = 4;
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < Rounds; i++)
        {
            from.AsSpan().CopyTo(to);
        }

        return MiBs(bytes * Rounds, clock.Elapsed);
    }

    /// <summary>One TCP connection over 127.0.0.1 carrying the sample in 1 MiB writes.</summary>
    private static async Task<double> MeasureLoopbackAsync(long bytes, CancellationToken cancellationToken)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var receive = Task.Run(async () =>
        {
            using var server = await listener.AcceptSocketAsync(cancellationToken);
            var buffer = new byte[Block];
            long got = 0;
            int n;
            while ((n = await server.ReceiveAsync(buffer, SocketFlags.None, cancellationToken)) > 0)
            {
                got += n;
            }

            return got;
        }, cancellationToken);

        var payload = new byte[Block];
        Random.Shared.NextBytes(payload);
        var clock = Stopwatch.StartNew();
        using (var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await client.ConnectAsync(IPAddress.Loopback, port, cancellationToken);
            for (long sent = 0; sent < bytes; sent += Block)
            {
                await client.SendAsync(payload.AsMemory(0, (int)Math.Min(Block, bytes - sent)), SocketFlags.None, cancellationToken);
            }

            client.Shutdown(SocketShutdown.Send);
            var received = await receive;
            if (received != bytes)
            {
                throw new InvalidOperationException($"Loopback received {received} of {bytes} bytes.");
            }
        }

        return MiBs(bytes, clock.Elapsed);
    }

    /// <summary>Bytes over time in MiB/s.</summary>
    public static double MiBs(long bytes, TimeSpan elapsed) => bytes / (double)(1 << 20) / Math.Max(elapsed.TotalSeconds, 1e-6);

    private static partial class NativeMethods
    {
        [LibraryImport("libc", SetLastError = true)]
        internal static partial int posix_fadvise(int fd, long offset, long length, int advice);
    }
}
