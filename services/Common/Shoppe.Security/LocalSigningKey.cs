using System.Security.Cryptography;
using Microsoft.IdentityModel.Tokens;

namespace Shoppe.Security;

/// <summary>
/// The one-machine signing key: 256 random bits in a file readable only by its owner, created on first
/// use. Services validate with it and the CLI and AppHost mint with it, so a token works across the
/// whole local facility and nowhere else.
/// </summary>
public static class LocalSigningKey
{
    private const int KeyBytes = 32;

    /// <summary>Loads the key at <paramref name="path"/>, creating it atomically if it does not exist.</summary>
    public static SymmetricSecurityKey LoadOrCreate(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path))
        {
            Create(path);
        }

        var text = File.ReadAllText(path).Trim();
        byte[] bytes;
        try
        {
            bytes = Convert.FromBase64String(text);
        }
        catch (FormatException ex)
        {
            throw new InvalidOperationException($"The signing key file {path} is not base64 text.", ex);
        }

        if (bytes.Length < KeyBytes)
        {
            throw new InvalidOperationException($"The signing key in {path} is shorter than {KeyBytes} bytes.");
        }

        return new SymmetricSecurityKey(bytes) { KeyId = KeyIdOf(bytes) };
    }

    private static void Create(string path)
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
            writer.Write(Convert.ToBase64String(RandomNumberGenerator.GetBytes(KeyBytes)));
        }

        try
        {
            // Several services may start at once: the first rename wins, the others read its key.
            File.Move(temp, path, overwrite: false);
        }
        catch (IOException) when (File.Exists(path))
        {
            File.Delete(temp);
        }
    }

    private static string KeyIdOf(byte[] key) => Convert.ToHexStringLower(SHA256.HashData(key))[..16];
}
