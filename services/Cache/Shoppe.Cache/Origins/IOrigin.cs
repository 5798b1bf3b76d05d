namespace Shoppe.Cache.Origins;

/// <summary>What an origin says about a file: enough to tell whether cached blocks are still its bytes.</summary>
public sealed record OriginFile(long Length, string? ETag, DateTimeOffset? LastModified)
{
    /// <summary>The ETag as an entity tag (null when the origin's is not a valid one), parsed once per file, not per read.</summary>
    public Microsoft.Net.Http.Headers.EntityTagHeaderValue? EntityTag { get; } =
        Microsoft.Net.Http.Headers.EntityTagHeaderValue.TryParse(ETag, out var tag) ? tag : null;

    /// <summary>Last-Modified as the header carries it, formatted once.</summary>
    public string? LastModifiedHeader { get; } = LastModified is { } m ? Microsoft.Net.Http.Headers.HeaderUtilities.FormatDate(m) : null;

    /// <summary>Whether cached blocks made from <paramref name="other"/> are still this file's bytes.</summary>
    public bool SameContentAs(OriginFile other) =>
        Length == other.Length && ETag == other.ETag && LastModified == other.LastModified;
}

/// <summary>The origin could not be reached or failed mid-read (502 to the client).</summary>
public sealed class OriginUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The origin's file changed since it was validated: the fetched bytes would mix two versions.</summary>
public sealed class OriginContentChangedException(string message) : Exception(message);

/// <summary>Where a file's bytes come from.</summary>
public interface IOrigin
{
    /// <summary>The origin's name (stats, logs).</summary>
    string Name { get; }

    /// <summary>The file's length and validators, or null when the origin has no such file.</summary>
    /// <exception cref="OriginUnavailableException">The origin could not answer.</exception>
    Task<OriginFile?> StatAsync(string relativePath, CancellationToken cancellationToken);

    /// <summary>
    /// A stream of exactly <paramref name="length"/> bytes from <paramref name="offset"/> (fewer means the origin
    /// failed), of the version of the file described by <paramref name="expected"/>.
    /// </summary>
    /// <exception cref="OriginUnavailableException">The origin could not answer.</exception>
    /// <exception cref="OriginContentChangedException">The file is no longer the version the blocks were made from.</exception>
    Task<Stream> OpenRangeAsync(string relativePath, long offset, long length, OriginFile expected, CancellationToken cancellationToken);
}
