namespace Shoppe.Security;

/// <summary>Files only their owner reads (mode 0600), written whole or not at all.</summary>
public static class PrivateFile
{
    /// <summary>
    /// Writes <paramref name="text"/> to a fresh file beside <paramref name="path"/> and renames it into place, so a
    /// reader sees the old file, the new one, or none, never half of one. Without <paramref name="overwrite"/> a file
    /// already at <paramref name="path"/> stays, and the result is false.
    /// </summary>
    public static bool WriteAtomically(string path, string text, bool overwrite)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(folder);
        var temp = Path.Combine(folder, $".{Path.GetFileName(path)}.{Environment.ProcessId}.{Guid.NewGuid():N}");
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var stream = new FileStream(temp, options))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(text);
        }

        try
        {
            File.Move(temp, path, overwrite);
            return true;
        }
        catch (IOException) when (!overwrite && File.Exists(path))
        {
            File.Delete(temp);
            return false;
        }
    }
}
