using System.Runtime.InteropServices;

namespace Shoppe.Cache.Blocks;

/// <summary>
/// Makes a folder's entries durable (fsync of the directory): a rename or a delete is only on disk once its
/// folder is synced, and .NET opens no handle to a folder to do it with.
/// </summary>
internal static partial class DirectorySync
{
    private const int ReadOnly = 0;        // O_RDONLY
    private const int Directory = 0x10000; // O_DIRECTORY (Linux)

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static partial int FileSync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static partial int Close(int fd);

    /// <summary>Syncs <paramref name="folder"/> (Linux; elsewhere a rename is left to the file system).</summary>
    /// <exception cref="IOException">The folder could not be synced.</exception>
    public static void Sync(string folder)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        var fd = Open(folder, ReadOnly | Directory);
        if (fd < 0)
        {
            throw new IOException($"Could not open {folder} to sync it (errno {Marshal.GetLastPInvokeError()}).");
        }

        try
        {
            if (FileSync(fd) != 0)
            {
                throw new IOException($"Could not sync {folder} (errno {Marshal.GetLastPInvokeError()}).");
            }
        }
        finally
        {
            _ = Close(fd);
        }
    }
}
