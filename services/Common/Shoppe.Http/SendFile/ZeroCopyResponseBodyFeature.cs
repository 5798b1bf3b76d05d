using System.IO.Pipelines;
using Microsoft.AspNetCore.Http.Features;

namespace Shoppe.Http.SendFile;

/// <summary>
/// Kestrel's response body with <see cref="SendFileAsync"/> made zero-copy: what <c>Results.File</c>,
/// <c>PhysicalFile</c> and static files call. Installed on connections that can send from files
/// (<see cref="ZeroCopySendFile.IsZeroCopy"/>); everything else is Kestrel's own.
/// </summary>
internal sealed class ZeroCopyResponseBodyFeature(IHttpResponseBodyFeature kestrel, Microsoft.AspNetCore.Http.HttpContext context) : IHttpResponseBodyFeature
{
    public Stream Stream => kestrel.Stream;

    public PipeWriter Writer => kestrel.Writer;

    public void DisableBuffering() => kestrel.DisableBuffering();

    public Task StartAsync(CancellationToken cancellationToken = default) => kestrel.StartAsync(cancellationToken);

    public Task CompleteAsync() => kestrel.CompleteAsync();

    public async Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default)
    {
        using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        var length = count ?? (RandomAccess.GetLength(file) - offset);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        await context.Response.SendFileAsync(file, offset, length, cancellationToken);
    }
}
