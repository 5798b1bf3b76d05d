using System.Buffers;
using System.Globalization;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;
using Shoppe.Security.Remotes;
using Shoppe.Transfer.Storage;

namespace Shoppe.Transfer.Tpc;

/// <summary>
/// A pull from a plain-HTTP source whose body never enters the process: one GET on a socket of our own, its
/// answer's head read and checked, and the body moved from the socket into the file with <c>splice(2)</c> (socket to
/// a kernel pipe, pipe to the file at its offset). HttpClient reads every byte into the process and the file write
/// copies it out again; here the kernel copies once. Only the plainest answer is taken this way — <c>200</c> with a
/// <c>Content-Length</c> — and anything else (a redirect, chunked encoding, TLS, a checksum to compute on the way)
/// is left to the HttpClient path, which a GET can be sent again on. Measured in docs/performance.md, "Transfer".
/// </summary>
internal static partial class SplicePull
{
    /// <summary>The most bytes of an answer's head (status line and headers) read before it is refused.</summary>
    private const int MaxHead = 64 * 1024;

    /// <summary>Bytes spliced at a time (the pipe's size, where the system allows one that large).</summary>
    private const int Chunk = 1 << 20;

    private static long _splicedBytes;

    /// <summary>Bytes spliced from sockets into files since the process started.</summary>
    public static long SplicedBytes => Interlocked.Read(ref _splicedBytes);

    /// <summary>What became of the attempt.</summary>
    public enum Outcome
    {
        /// <summary>The body is in the file.</summary>
        Copied,

        /// <summary>Not an answer this path takes: send the request again with HttpClient.</summary>
        UseHttpClient,
    }

    /// <summary>Whether a pull from <paramref name="remote"/> may go this way at all.</summary>
    public static bool Applies(Uri remote, bool verify) =>
        OperatingSystem.IsLinux() && remote.Scheme == Uri.UriSchemeHttp && !verify;

    /// <summary>
    /// Asks for the file and, if the answer is a <c>200</c> with a length, splices its body into <paramref name="target"/>.
    /// </summary>
    /// <param name="policy">Where connections may go.</param>
    /// <param name="remote">The file.</param>
    /// <param name="forwarded">Headers to send (TransferHeader forwarding).</param>
    /// <param name="target">The file to write, from offset 0.</param>
    /// <param name="onBytes">Called with each run of bytes written (progress, inactivity timers).</param>
    /// <param name="stall">Cancelled when the remote sends nothing for too long, or the copy is cancelled.</param>
    /// <returns>The outcome and, when copied, the body's length.</returns>
    /// <exception cref="CopyFailedException">The remote answered with an error, or sent less than it said.</exception>
    public static async Task<(Outcome Outcome, long Length)> PullAsync(RemotePolicy policy, Uri remote, IReadOnlyList<KeyValuePair<string, string>> forwarded, SafeFileHandle target, Action<int> onBytes, CancellationToken stall)
    {
        var endpoint = (policy, remote.IdnHost, remote.Port);
        var head = ArrayPool<byte>.Shared.Rent(MaxHead);
        try
        {
            while (true)
            {
                // A kept-alive connection first; one the remote has closed meanwhile answers nothing, and a new one is made.
                var reused = Idle.TryTake(endpoint, out var socket);
                socket ??= await policy.ConnectSocketAsync(remote.IdnHost, remote.Port, stall);
                var keep = false;
                try
                {
                    (int Status, long? Length, bool Chunked, bool Close, int HeadLength, int Filled)? answer;
                    try
                    {
                        socket.Blocking = false;
                        await SendRequestAsync(socket, remote, forwarded, stall);
                        answer = await ReadHeadAsync(socket, head, stall);
                    }
                    catch (SocketException) when (reused)
                    {
                        continue;
                    }

                    if (answer is null)
                    {
                        if (reused)
                        {
                            continue;
                        }

                        throw new CopyFailedException("Remote side closed the connection before it answered");
                    }

                    var (status, length, chunked, close, headLength, filled) = answer.Value;
                    if (status is >= 300 and < 400 || (status == 200 && (length is null || chunked)))
                    {
                        return (Outcome.UseHttpClient, 0);
                    }

                    if (status != 200)
                    {
                        throw new CopyFailedException($"Remote side failed with status code {status}");
                    }

                    FileWriting.Preallocate(target, length!.Value);
                    // Body bytes that came with the head are written as they are; the rest is spliced.
                    var early = (int)Math.Min(filled - headLength, length.Value);
                    if (early > 0)
                    {
                        RandomAccess.Write(target, head.AsSpan(headLength, early), 0);
                        onBytes(early);
                    }

                    await SpliceAsync(socket, target, early, length.Value - early, onBytes, stall);
                    // Exactly the answer was read: the connection can carry the next pull from this remote.
                    keep = !close && filled - headLength <= length.Value;
                    return (Outcome.Copied, length.Value);
                }
                finally
                {
                    if (!keep || !Idle.TryAdd(endpoint, socket))
                    {
                        socket.Dispose();
                    }
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(head);
        }
    }

    private static async Task SendRequestAsync(Socket socket, Uri remote, IReadOnlyList<KeyValuePair<string, string>> forwarded, CancellationToken cancellationToken)
    {
        var request = new StringBuilder(512)
            .Append(CultureInfo.InvariantCulture, $"GET {remote.PathAndQuery} HTTP/1.1\r\n")
            .Append(CultureInfo.InvariantCulture, $"Host: {(remote.IsDefaultPort ? remote.IdnHost : $"{remote.IdnHost}:{remote.Port}")}\r\n")
            .Append("User-Agent: coffea-shoppe-transfer\r\nAccept: */*\r\n");
        foreach (var (name, value) in forwarded)
        {
            // Kestrel has refused line breaks in the request these came from; refused again, so no header is ever split.
            if (name.AsSpan().IndexOfAny("\r\n:") >= 0 || value.AsSpan().IndexOfAny("\r\n") >= 0)
            {
                throw new CopyFailedException($"The header {name} cannot be forwarded");
            }

            request.Append(CultureInfo.InvariantCulture, $"{name}: {value}\r\n");
        }

        var bytes = Encoding.Latin1.GetBytes(request.Append("\r\n").ToString());
        var sent = 0;
        while (sent < bytes.Length)
        {
            sent += await socket.SendAsync(bytes.AsMemory(sent), SocketFlags.None, cancellationToken);
        }
    }

    /// <summary>
    /// Reads until the end of the head: the status, the length, whether chunked, whether the remote closes the
    /// connection after, the head's length and the bytes read; null when the connection closed before any byte.
    /// </summary>
    private static async Task<(int Status, long? Length, bool Chunked, bool Close, int HeadLength, int Filled)?> ReadHeadAsync(Socket socket, byte[] buffer, CancellationToken cancellationToken)
    {
        var filled = 0;
        while (true)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(filled, MaxHead - filled), SocketFlags.None, cancellationToken);
            if (n == 0)
            {
                return filled == 0 ? null : throw new CopyFailedException("Remote side closed the connection in the middle of its answer's headers");
            }

            var searchFrom = Math.Max(0, filled - 3);
            filled += n;
            var end = buffer.AsSpan(searchFrom, filled - searchFrom).IndexOf("\r\n\r\n"u8);
            if (end >= 0)
            {
                var headLength = searchFrom + end + 4;
                var (status, length, chunked, close) = ParseHead(buffer.AsSpan(0, headLength));
                return (status, length, chunked, close, headLength, filled);
            }

            if (filled == MaxHead)
            {
                throw new CopyFailedException($"Remote side sent more than {MaxHead} bytes of headers");
            }
        }
    }

    /// <summary>The status, Content-Length, chunking and <c>Connection: close</c> of an HTTP/1.x answer's head.</summary>
    internal static (int Status, long? Length, bool Chunked, bool Close) ParseHead(ReadOnlySpan<byte> head)
    {
        var text = Encoding.Latin1.GetString(head);
        var lines = text.Split("\r\n");
        var statusLine = lines[0].Split(' ', 3);
        if (statusLine.Length < 2 || !statusLine[0].StartsWith("HTTP/1.", StringComparison.Ordinal)
            || !int.TryParse(statusLine[1], NumberStyles.None, CultureInfo.InvariantCulture, out var status) || status is < 100 or > 999)
        {
            throw new CopyFailedException("Remote side's answer is not HTTP/1.x");
        }

        long? length = null;
        var chunked = false;
        var lengths = 0;
        // HTTP/1.0 closes unless it says otherwise; 1.1 keeps the connection unless it says close.
        var close = statusLine[0] == "HTTP/1.0";
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                continue;
            }

            var name = line.AsSpan(0, colon).Trim();
            var value = line.AsSpan(colon + 1).Trim();
            if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                // A bad length, or two different ones, make the answer's end unknowable (RFC 9112 §6.3): not taken here.
                lengths++;
                length = long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed) && (lengths == 1 || length == parsed) ? parsed : null;
                if (length is null)
                {
                    return (status, null, chunked, true);
                }
            }
            else if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
            {
                chunked = true;
            }
            else if (name.Equals("Connection", StringComparison.OrdinalIgnoreCase))
            {
                close = value.Contains("close", StringComparison.OrdinalIgnoreCase) || (close && !value.Contains("keep-alive", StringComparison.OrdinalIgnoreCase));
            }
        }

        return (status, length, chunked, close);
    }

    /// <summary>
    /// Kept-alive connections to remotes, a few per endpoint, for the next pull: small files are mostly connection
    /// set-up otherwise (a new connection each, at both ends). Only connections whose answer was read to its end are kept.
    /// </summary>
    private static class Idle
    {
        private const int PerEndpoint = 16;
        private static readonly TimeSpan MaxIdle = TimeSpan.FromSeconds(20);
        private static readonly System.Collections.Concurrent.ConcurrentDictionary<(RemotePolicy, string, int), System.Collections.Concurrent.ConcurrentQueue<(Socket Socket, long Since)>> Sockets = new();

        public static bool TryTake((RemotePolicy, string, int) endpoint, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Socket? socket)
        {
            socket = null;
            if (!Sockets.TryGetValue(endpoint, out var queue))
            {
                return false;
            }

            while (queue.TryDequeue(out var idle))
            {
                // Too old, or readable while idle (closed by the remote, or sending what nobody asked for): not used.
                if (Environment.TickCount64 - idle.Since > MaxIdle.TotalMilliseconds || idle.Socket.Poll(0, SelectMode.SelectRead))
                {
                    idle.Socket.Dispose();
                    continue;
                }

                socket = idle.Socket;
                return true;
            }

            return false;
        }

        public static bool TryAdd((RemotePolicy, string, int) endpoint, Socket socket)
        {
            var queue = Sockets.GetOrAdd(endpoint, _ => new());
            if (queue.Count >= PerEndpoint)
            {
                return false;
            }

            queue.Enqueue((socket, Environment.TickCount64));
            return true;
        }
    }

    private static async Task SpliceAsync(Socket socket, SafeFileHandle target, long offset, long count, Action<int> onBytes, CancellationToken stall)
    {
        using var pipe = KernelPipe.Create();
        while (count > 0)
        {
            var moved = Native.SpliceFromSocket(socket, pipe, (int)Math.Min(count, pipe.Capacity), out var wouldBlock);
            if (moved == 0)
            {
                if (!wouldBlock)
                {
                    throw new CopyFailedException($"Remote side closed the connection {count} bytes before the end of the file");
                }

                // Nothing to read yet: a zero-byte receive waits for data without taking any.
                await socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, stall);
                continue;
            }

            Native.SpliceToFile(pipe, target, ref offset, moved);
            Interlocked.Add(ref _splicedBytes, moved);
            count -= moved;
            onBytes(moved);
        }
    }

    /// <summary>A kernel pipe, the go-between splice needs (a socket cannot be spliced straight into a file).</summary>
    private sealed class KernelPipe : IDisposable
    {
        private KernelPipe(int read, int write, int capacity)
        {
            Read = read;
            Write = write;
            Capacity = capacity;
        }

        public int Read { get; }

        public int Write { get; }

        public int Capacity { get; }

        public static unsafe KernelPipe Create()
        {
            var fds = stackalloc int[2];
            if (Native.Pipe2(fds, Native.O_CLOEXEC) != 0)
            {
                throw new IOException($"pipe2 failed with errno {Marshal.GetLastPInvokeError()}");
            }

            // A larger pipe moves more per call; the system's limit (fs.pipe-max-size, 1 MiB by default) may refuse it.
            var capacity = Native.Fcntl(fds[1], Native.F_SETPIPE_SZ, Chunk);
            return new KernelPipe(fds[0], fds[1], capacity > 0 ? capacity : 64 * 1024);
        }

        public void Dispose()
        {
            _ = Native.Close(Read);
            _ = Native.Close(Write);
        }
    }

    private static unsafe partial class Native
    {
        public const int O_CLOEXEC = 0x80000;
        public const int F_SETPIPE_SZ = 1031;
        private const int EINTR = 4;
        private const int EAGAIN = 11;
        private const uint SPLICE_F_MOVE = 1;
        private const uint SPLICE_F_NONBLOCK = 2;

        [LibraryImport("libc", EntryPoint = "pipe2", SetLastError = true)]
        public static partial int Pipe2(int* fds, int flags);

        [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
        public static partial int Fcntl(int fd, int command, int argument);

        [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
        public static partial int Close(int fd);

        [LibraryImport("libc", EntryPoint = "splice", SetLastError = true)]
        private static partial nint Splice(int fdIn, long* offIn, int fdOut, long* offOut, nint length, uint flags);

        /// <summary>Moves what the socket has (up to <paramref name="max"/>) into the empty pipe; 0 with <paramref name="wouldBlock"/> when it has nothing yet.</summary>
        public static int SpliceFromSocket(Socket socket, KernelPipe pipe, int max, out bool wouldBlock)
        {
            wouldBlock = false;
            var added = false;
            try
            {
                socket.SafeHandle.DangerousAddRef(ref added);
                while (true)
                {
                    var n = Splice((int)socket.SafeHandle.DangerousGetHandle(), null, pipe.Write, null, max, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
                    if (n >= 0)
                    {
                        return (int)n;
                    }

                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == EINTR)
                    {
                        continue;
                    }

                    if (errno == EAGAIN)
                    {
                        wouldBlock = true;
                        return 0;
                    }

                    throw new IOException($"splice from the socket failed with errno {errno}");
                }
            }
            finally
            {
                if (added)
                {
                    socket.SafeHandle.DangerousRelease();
                }
            }
        }

        /// <summary>Empties the pipe's <paramref name="count"/> bytes into the file at <paramref name="offset"/> (advanced).</summary>
        public static void SpliceToFile(KernelPipe pipe, SafeFileHandle file, ref long offset, int count)
        {
            var added = false;
            try
            {
                file.DangerousAddRef(ref added);
                while (count > 0)
                {
                    var position = offset;
                    var n = Splice(pipe.Read, null, (int)file.DangerousGetHandle(), &position, count, SPLICE_F_MOVE);
                    if (n > 0)
                    {
                        offset += n;
                        count -= (int)n;
                        continue;
                    }

                    var errno = Marshal.GetLastPInvokeError();
                    if (n < 0 && errno == EINTR)
                    {
                        continue;
                    }

                    throw new IOException(n == 0 ? "splice into the file moved nothing" : $"splice into the file failed with errno {errno}");
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
    }
}
