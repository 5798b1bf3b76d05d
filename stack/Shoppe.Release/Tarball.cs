using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;

namespace Shoppe.Release;

/// <summary>
/// Packs a folder as a reproducible <c>.tar.gz</c>: entries in ordinal order, every time stamp the source date,
/// owner root, modes 0755 or 0644 — the same bytes from the same files.
/// </summary>
public static class Tarball
{
    /// <summary>Packs <paramref name="folder"/> under <paramref name="prefix"/>/ into <paramref name="archive"/>.</summary>
    public static void Pack(string folder, string prefix, string archive, DateTimeOffset sourceDate)
    {
        using var file = new FileStream(archive, FileMode.CreateNew, FileAccess.Write);
        using var gzip = new GZipStream(file, CompressionLevel.Optimal);
        using var tar = new TarWriter(gzip, TarEntryFormat.Pax, leaveOpen: false);
        foreach (var path in Directory.GetFiles(folder, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var name = prefix + "/" + Path.GetRelativePath(folder, path).Replace('\\', '/');
            var entry = new PaxTarEntry(TarEntryType.RegularFile, name, new Dictionary<string, string>())
            {
                ModificationTime = sourceDate,
                // 0755 for what may run, 0644 for the rest: the same bytes whatever the builder's umask.
                Mode = !OperatingSystem.IsWindows() && File.GetUnixFileMode(path).HasFlag(UnixFileMode.UserExecute) ? (UnixFileMode)0b111_101_101 : (UnixFileMode)0b110_100_100,
                Uid = 0,
                Gid = 0,
                UserName = "root",
                GroupName = "root",
            };
            using var data = File.OpenRead(path);
            entry.DataStream = data;
            tar.WriteEntry(entry);
        }
    }

    /// <summary>Unpacks <paramref name="archive"/> into <paramref name="folder"/> (entries may not leave it).</summary>
    public static void Unpack(string archive, string folder)
    {
        Directory.CreateDirectory(folder);
        using var file = File.OpenRead(archive);
        using var gzip = new GZipStream(file, CompressionMode.Decompress);
        TarFile.ExtractToDirectory(gzip, folder, overwriteFiles: true);
    }

    /// <summary>A file's SHA-256 in lower-case hex.</summary>
    public static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
