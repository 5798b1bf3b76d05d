using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Logging;

namespace Shoppe.Testing;

/// <summary>
/// A real HTTP origin on a loopback port serving a folder with range support (ASP.NET Core's static file
/// handling, as a plain web server would), counting the requests it gets and the headers they carried; it can
/// be slowed down, stopped and started again on the same port.
/// </summary>
public sealed class TestOrigin : IAsyncDisposable
{
    private WebApplication? _app;

    public TestOrigin(string? folder = null)
    {
        Folder = folder ?? Directory.CreateTempSubdirectory("shoppe-origin-").FullName;
    }

    public string Folder { get; }

    public int Port { get; private set; }

    public string Url => $"http://127.0.0.1:{Port}";

    /// <summary>Range GETs by path and range header.</summary>
    public ConcurrentQueue<(string Path, string? Range, string? Authorization)> Requests { get; } = new();

    /// <summary>Range requests get no answer at all (a stalled origin) while this is set.</summary>
    public bool StallRangeRequests { get; set; }

    /// <summary>Bytes a second each response is held to (0: as fast as it goes).</summary>
    public long BytesPerSecond { get; set; }

    /// <summary>Answers the next this-many requests with 503 (an origin having a bad moment).</summary>
    public int FailNextRequests
    {
        get => Math.Max(0, Volatile.Read(ref _failures));
        set => Volatile.Write(ref _failures, value);
    }

    private int _failures;

    public string Write(string name, byte[] content)
    {
        var path = Path.Combine(Folder, name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, content);
        return path;
    }

    public async Task StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{Port}");
        _app = builder.Build();
        _app.Use(async (context, next) =>
        {
            Requests.Enqueue((context.Request.Path.Value ?? "", context.Request.Headers.Range.ToString() is { Length: > 0 } r ? r : null,
                context.Request.Headers.Authorization.ToString() is { Length: > 0 } a ? a : null));
            if (Interlocked.Decrement(ref _failures) >= 0)
            {
                context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                return;
            }

            if (StallRangeRequests && context.Request.Headers.Range.Count > 0)
            {
                await Task.Delay(Timeout.Infinite, context.RequestAborted);
            }

            if (BytesPerSecond > 0)
            {
                context.Response.Body = new ThrottledStream(context.Response.Body, BytesPerSecond);
            }

            await next(context);
        });
        _app.UseStaticFiles(new StaticFileOptions { FileProvider = new PhysicalFileProvider(Folder), ServeUnknownFileTypes = true });
        await _app.StartAsync();
        Port = new Uri(_app.Urls.First()).Port;
    }

    public async Task StopAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
            _app = null;
        }
    }

    public int GetsOf(string path) => Requests.Count(r => r.Path == path && r.Range is not null);

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        Directory.Delete(Folder, recursive: true);
    }

    private sealed class ThrottledStream(Stream inner, long bytesPerSecond) : Stream
    {
        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Flush() => inner.Flush();

        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            const int Slice = 64 * 1024;
            for (var at = 0; at < buffer.Length; at += Slice)
            {
                var part = buffer.Slice(at, Math.Min(Slice, buffer.Length - at));
                await inner.WriteAsync(part, cancellationToken);
                await inner.FlushAsync(cancellationToken);
                await Task.Delay(TimeSpan.FromSeconds((double)part.Length / bytesPerSecond), cancellationToken);
            }
        }
    }
}
