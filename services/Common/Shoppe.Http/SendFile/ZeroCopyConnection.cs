using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Shoppe.Http.SendFile;

/// <summary>
/// One plain-TCP connection whose response bytes leave through this class instead of Kestrel's socket sender, so
/// that a stretch of a response can come straight from a file with <c>sendfile(2)</c>: the kernel hands page-cache
/// pages to the socket, and neither a read into the process nor a copy into the socket is made.
/// </summary>
/// <remarks>
/// Kestrel's HTTP layer writes every byte of the connection's output into <see cref="Output"/>, in order; the pump
/// sends them. A file stretch is a <see cref="Region"/>: the output positions it stands for, registered before as
/// many placeholder bytes are advanced (never written) through the response's own writer, so Kestrel counts the
/// body exactly as for bytes it copied itself (Content-Length, keep-alive, data-rate checks). When the pump reaches a
/// region it calls <c>sendfile</c> for those positions and skips the placeholders. A socket that is full makes
/// <c>sendfile</c> say EAGAIN; .NET has no way to wait for a socket to take more without sending, so the pump then
/// sends one chunk the ordinary way (read, then an asynchronous send, which waits without holding a thread) and goes
/// back to <c>sendfile</c>. Measured on loopback (docs/performance.md, "Cache"): one stream 1.9 to 2.9 GB/s, a
/// 64 KiB range read 67 to 49 microseconds of CPU.
/// </remarks>
internal sealed partial class ZeroCopyConnection : IDuplexPipe
{
    /// <summary>The most bytes sent the ordinary way when the socket is full (then sendfile again).</summary>
    private const int FallbackChunk = 64 * 1024;

    private readonly Socket _socket;
    private readonly IDuplexPipe _transport;
    private readonly Action _abort;
    private readonly Pipe _pipe;
    private readonly CountingPipeWriter _writer;
    private readonly LinkedList<Region> _regions = new();
    private readonly List<ArraySegment<byte>> _gather = [];

    public ZeroCopyConnection(Socket socket, IDuplexPipe transport, MemoryPool<byte>? pool, long pauseThreshold, Action abort)
    {
        _socket = socket;
        _transport = transport;
        _abort = abort;
        // The writer waits (back-pressure) once this much is queued, placeholders included: a region's bytes count
        // until sendfile has sent them, so a response never runs ahead of the socket by more than this.
        _pipe = new Pipe(new PipeOptions(pool, PipeScheduler.ThreadPool, PipeScheduler.Inline, pauseThreshold, pauseThreshold / 2, 4096, useSynchronizationContext: false));
        _writer = new CountingPipeWriter(_pipe.Writer);
    }

    public PipeReader Input => _transport.Input;

    public PipeWriter Output => _writer;

    /// <summary>Bytes written to the connection so far (the output position the next byte will have).</summary>
    public long Position => _writer.Advanced;

    /// <summary>
    /// Says that the next <paramref name="count"/> bytes written from <see cref="Position"/> on are placeholders for
    /// the file's bytes from <paramref name="offset"/>. The handle is held (not closed under the pump) until sent.
    /// </summary>
    public Region AddRegion(SafeFileHandle file, long offset, long count)
    {
        var region = new Region(Position, count, file, offset);
        lock (_regions)
        {
            _regions.AddLast(region);
        }

        return region;
    }

    /// <summary>Takes back a region whose placeholders were never written (the writer failed): nothing may stand for it.</summary>
    public void RemoveRegion(Region region)
    {
        lock (_regions)
        {
            if (ReferenceEquals(_regions.Last?.Value, region) && region.Start == Position)
            {
                _regions.RemoveLast();
                region.Release();
            }
            else
            {
                // Placeholders may be half written; the output can no longer be trusted.
                _abort();
            }
        }
    }

    private Region? NextRegion(long sent)
    {
        lock (_regions)
        {
            while (_regions.First is { } first && first.Value.End <= sent)
            {
                first.Value.Release();
                _regions.RemoveFirst();
            }

            return _regions.First?.Value;
        }
    }

    /// <summary>Sends everything written, until the writer completes or the socket fails; then completes the transport's output.</summary>
    public async Task PumpAsync()
    {
        var reader = _pipe.Reader;
        var scratch = ArrayPool<byte>.Shared.Rent(FallbackChunk);
        long sent = 0;
        Exception? error = null;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync();
                var buffer = result.Buffer;
                try
                {
                    while (!buffer.IsEmpty)
                    {
                        var region = NextRegion(sent);
                        long n;
                        if (region is not null && region.Start <= sent)
                        {
                            n = Math.Min(buffer.Length, region.End - sent);
                            await SendFromFileAsync(region.File, region.Offset + (sent - region.Start), n, scratch);
                        }
                        else
                        {
                            n = Math.Min(buffer.Length, (region?.Start ?? long.MaxValue) - sent);
                            await SendAsync(buffer.Slice(0, n));
                        }

                        buffer = buffer.Slice(n);
                        sent += n;
                    }
                }
                finally
                {
                    reader.AdvanceTo(buffer.Start);
                }

                if (result.IsCompleted || result.IsCanceled)
                {
                    break;
                }
            }
        }
#pragma warning disable CA1031 // any failure of the socket ends the connection: the writer learns it from the completed reader
        catch (Exception ex)
#pragma warning restore CA1031
        {
            error = ex;
            _abort();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
            lock (_regions)
            {
                foreach (var region in _regions)
                {
                    region.Release();
                }

                _regions.Clear();
            }

            await reader.CompleteAsync(error);
            // Kestrel's own sender has had nothing to send; completing its pipe lets it shut the socket down in order.
            await _transport.Output.CompleteAsync();
        }
    }

    private async ValueTask SendAsync(ReadOnlySequence<byte> bytes)
    {
        if (bytes.IsSingleSegment)
        {
            var memory = bytes.First;
            while (!memory.IsEmpty)
            {
                memory = memory[await _socket.SendAsync(memory, SocketFlags.None)..];
            }

            return;
        }

        // Several segments in one system call, as Kestrel's own sender does.
        _gather.Clear();
        foreach (var segment in bytes)
        {
            _gather.Add(MemoryMarshal.TryGetArray(segment, out var array) ? array : new ArraySegment<byte>(segment.ToArray()));
        }

        var left = bytes.Length;
        while (left > 0)
        {
            var n = await _socket.SendAsync(_gather, SocketFlags.None);
            left -= n;
            if (left > 0)
            {
                Drop(_gather, n);
            }
        }
    }

    private static void Drop(List<ArraySegment<byte>> segments, int bytes)
    {
        while (bytes > 0)
        {
            var first = segments[0];
            if (first.Count <= bytes)
            {
                bytes -= first.Count;
                segments.RemoveAt(0);
            }
            else
            {
                segments[0] = first[bytes..];
                bytes = 0;
            }
        }
    }

    private async ValueTask SendFromFileAsync(SafeFileHandle file, long offset, long count, byte[] scratch)
    {
        while (count > 0)
        {
            var n = TrySendFile(file, offset, count, out var full);
            if (n > 0)
            {
                ZeroCopyMetrics.AddFromFile(n);
                offset += n;
                count -= n;
                continue;
            }

            if (!full)
            {
                throw new IOException($"The file ended {count} bytes before the response did.");
            }

            // The socket is full: one chunk the ordinary way waits for room without holding a thread.
            var read = RandomAccess.Read(file, scratch.AsSpan(0, (int)Math.Min(count, scratch.Length)), offset);
            if (read <= 0)
            {
                throw new IOException($"The file ended {count} bytes before the response did.");
            }

            var memory = scratch.AsMemory(0, read);
            while (!memory.IsEmpty)
            {
                memory = memory[await _socket.SendAsync(memory, SocketFlags.None)..];
            }

            ZeroCopyMetrics.AddCopied(read);
            offset += read;
            count -= read;
        }
    }

    /// <summary>One <c>sendfile</c>: the bytes sent, or 0 with <paramref name="full"/> when the socket takes no more now.</summary>
    private long TrySendFile(SafeFileHandle file, long offset, long count, out bool full)
    {
        full = false;
        var socketRef = false;
        var fileRef = false;
        try
        {
            // Held so neither descriptor can be closed (and its number reused) during the call.
            _socket.SafeHandle.DangerousAddRef(ref socketRef);
            file.DangerousAddRef(ref fileRef);
            while (true)
            {
                var position = offset;
                var n = Native.SendFile((int)_socket.SafeHandle.DangerousGetHandle(), (int)file.DangerousGetHandle(), ref position, (nint)Math.Min(count, 1 << 30));
                if (n >= 0)
                {
                    return n;
                }

                var errno = Marshal.GetLastPInvokeError();
                if (errno == Native.EINTR)
                {
                    continue;
                }

                if (errno is Native.EAGAIN)
                {
                    full = true;
                    return 0;
                }

                throw new IOException($"sendfile failed with errno {errno}.");
            }
        }
        finally
        {
            if (fileRef)
            {
                file.DangerousRelease();
            }

            if (socketRef)
            {
                _socket.SafeHandle.DangerousRelease();
            }
        }
    }

    /// <summary>Output positions that stand for a stretch of a file.</summary>
    internal sealed class Region
    {
        private int _released;

        public Region(long start, long count, SafeFileHandle file, long offset)
        {
            Start = start;
            Count = count;
            File = file;
            Offset = offset;
            var added = false;
            file.DangerousAddRef(ref added);
        }

        public long Start { get; }

        public long Count { get; }

        public long End => Start + Count;

        public SafeFileHandle File { get; }

        public long Offset { get; }

        public void Release()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                File.DangerousRelease();
            }
        }
    }

    /// <summary>The connection's writer, counting the bytes written so regions know their positions.</summary>
    private sealed class CountingPipeWriter(PipeWriter inner) : PipeWriter
    {
        public long Advanced { get; private set; }

        public override void Advance(int bytes)
        {
            inner.Advance(bytes);
            Advanced += bytes;
        }

        public override void CancelPendingFlush() => inner.CancelPendingFlush();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => inner.FlushAsync(cancellationToken);

        public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);

        public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);

        public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;

        public override long UnflushedBytes => inner.UnflushedBytes;
    }

    private static partial class Native
    {
        public const int EINTR = 4;
        public const int EAGAIN = 11;

        [LibraryImport("libc", EntryPoint = "sendfile", SetLastError = true)]
        public static partial nint SendFile(int outFd, int inFd, ref long offset, nint count);
    }
}
