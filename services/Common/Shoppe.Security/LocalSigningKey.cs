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

    // Several services may start at once: the first rename wins, the others read its key.
    private static void Create(string path) =>
        PrivateFile.WriteAtomically(path, Convert.ToBase64String(RandomNumberGenerator.GetBytes(KeyBytes)), overwrite: false);

    private static string KeyIdOf(byte[] key) => Convert.ToHexStringLower(SHA256.HashData(key))[..16];
}
