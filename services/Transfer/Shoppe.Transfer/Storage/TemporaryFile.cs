namespace Shoppe.Transfer.Storage;

/// <summary>
/// A hidden file beside a file's final name: written, then renamed into place when complete, or removed. Nobody
/// ever sees a partial file under the final name. A short name (a long file name plus a suffix could pass the file
/// system's limit); once renamed there is nothing left to remove (an unlink of a name that is gone still takes the
/// folder's lock, which every copy into that folder waits on: docs/performance.md, "Transfer").
/// </summary>
internal sealed class TemporaryFile(string folder, string prefix) : IDisposable
{
    private bool _moved;

    public string FullName { get; } = Path.Combine(folder, $"{prefix}{Guid.NewGuid():N}");

    /// <summary>Renames the file to <paramref name="final"/>.</summary>
    /// <exception cref="IOException">The final name exists and <paramref name="overwrite"/> is false.</exception>
    public void MoveTo(string final, bool overwrite)
    {
        File.Move(FullName, final, overwrite);
        _moved = true;
    }

    public void Dispose()
    {
        if (!_moved)
        {
            File.Delete(FullName);
        }
    }
}
