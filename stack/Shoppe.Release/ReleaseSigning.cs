using System.Security.Cryptography;
using System.Text.Json;

namespace Shoppe.Release;

/// <summary>
/// Signs and verifies manifests with ECDSA P-256 over SHA-256 (.NET's own crypto). The signature covers the
/// manifest file's exact bytes and lives beside it in <c>manifest.sig</c>; the public keys a release may be
/// signed with are the PEM files in <c>stack/keys/</c>, named by key id.
/// </summary>
public static class ReleaseSigning
{
    /// <summary>The algorithm's name in the manifest and the signature file.</summary>
    public const string Algorithm = "ECDSA-P256-SHA256";

    /// <summary>
    /// The release manager's private key: <paramref name="path"/>, else <c>$SHOPPE_RELEASE_KEY</c>, else
    /// <c>~/.config/coffea-shoppe/release-signing.key</c>, created (mode 0600) when it does not exist.
    /// </summary>
    public static ECDsa LoadOrCreatePrivateKey(string? path, out string resolvedPath, out bool created)
    {
        resolvedPath = ResolveKeyPath(path);
        created = false;
        if (File.Exists(resolvedPath))
        {
            return LoadPrivateKey(resolvedPath);
        }

        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        Directory.CreateDirectory(Path.GetDirectoryName(resolvedPath)!);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var writer = new StreamWriter(new FileStream(resolvedPath, options)))
        {
            writer.Write(key.ExportPkcs8PrivateKeyPem());
        }

        created = true;
        return key;
    }

    /// <summary>The key file a command would use: the option, else <c>$SHOPPE_RELEASE_KEY</c>, else <see cref="DefaultKeyPath"/>.</summary>
    public static string ResolveKeyPath(string? path)
    {
        var chosen = path ?? Environment.GetEnvironmentVariable("SHOPPE_RELEASE_KEY");
        if (string.IsNullOrEmpty(chosen))
        {
            var config = Environment.GetFolderPath(Environment.SpecialFolder.ApplicationData, Environment.SpecialFolderOption.DoNotVerify);
            chosen = Path.IsPathRooted(config)
                ? Path.Combine(config, "coffea-shoppe", "release-signing.key")
                : throw new ReleaseException("No home folder to keep the release signing key in: name it with --signing-key or $SHOPPE_RELEASE_KEY.");
        }

        return Path.GetFullPath(chosen);
    }

    /// <summary>
    /// An existing private key, never a new one: refuses a public key, a key that is not P-256, and a key file that
    /// others may read.
    /// </summary>
    public static ECDsa LoadPrivateKey(string path)
    {
        if (!File.Exists(path))
        {
            throw new ReleaseException($"There is no signing key at {path}: certification re-signs with the key that cut the release.");
        }

        if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(path) & (UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite)) != 0)
        {
            throw new ReleaseException($"{path} may be read by others: chmod 600 it (a release signing key is the release manager's alone).");
        }

        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(File.ReadAllText(path));
            _ = key.ExportParameters(includePrivateParameters: true); // a public key has no private part: refused here
        }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException)
        {
            key.Dispose();
            throw new ReleaseException($"{path} is not a PEM private key: {ex.Message}", ex);
        }

        if (key.KeySize != 256)
        {
            key.Dispose();
            throw new ReleaseException($"{path} is not a P-256 key.");
        }

        return key;
    }

    /// <summary>Where a release manager's key lives unless told otherwise.</summary>
    public static string DefaultKeyPath => Path.Combine("~", ".config", "coffea-shoppe", "release-signing.key");

    /// <summary>A key's id: the first 16 hex digits of the SHA-256 of its public key (SubjectPublicKeyInfo).</summary>
    public static string KeyId(ECDsa key) => Convert.ToHexStringLower(SHA256.HashData(key.ExportSubjectPublicKeyInfo()))[..16];

    /// <summary>
    /// Makes sure <paramref name="keysFolder"/> holds <paramref name="key"/>'s public half as
    /// <c>&lt;key id&gt;.pem</c>; returns that file's path and whether it was written now.
    /// </summary>
    public static (string Path, bool Written) PublishPublicKey(ECDsa key, string keysFolder)
    {
        Directory.CreateDirectory(keysFolder);
        var path = System.IO.Path.Combine(keysFolder, KeyId(key) + ".pem");
        if (File.Exists(path))
        {
            return (path, false);
        }

        File.WriteAllText(path, key.ExportSubjectPublicKeyInfoPem());
        return (path, true);
    }

    /// <summary>Signs <paramref name="manifestFile"/>'s bytes into <c>manifest.sig</c> beside it.</summary>
    public static void Sign(string manifestFile, ECDsa key) => WriteSigned(manifestFile, File.ReadAllBytes(manifestFile), key);

    /// <summary>
    /// Signs <paramref name="manifest"/> in memory, then puts it and its signature in place (each written to a
    /// temporary name and renamed): a failure before the renames leaves the previous manifest and signature whole.
    /// </summary>
    public static void WriteSigned(string manifestFile, byte[] manifest, ECDsa key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var signature = key.SignData(manifest, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        var document = JsonSerializer.SerializeToUtf8Bytes(new SignatureFile(Algorithm, KeyId(key), Convert.ToBase64String(signature)), ManifestJson.Options);
        var sigFile = SignaturePath(manifestFile);
        File.WriteAllBytes(manifestFile + ".new", manifest);
        File.WriteAllBytes(sigFile + ".new", document);
        File.Move(manifestFile + ".new", manifestFile, overwrite: true);
        File.Move(sigFile + ".new", sigFile, overwrite: true);
    }

    /// <summary>The signature file of a manifest.</summary>
    public static string SignaturePath(string manifestFile) => Path.Combine(Path.GetDirectoryName(manifestFile)!, "manifest.sig");

    /// <summary>
    /// Checks the manifest's bytes against its signature with a trusted key from <paramref name="keysFolder"/>
    /// (or <paramref name="publicKeyFile"/> when given); returns the key id, or throws with the reason.
    /// </summary>
    public static string Verify(string manifestFile, string keysFolder, string? publicKeyFile = null) =>
        Verify(manifestFile, File.ReadAllBytes(manifestFile), keysFolder, publicKeyFile);

    /// <summary>Checks <paramref name="manifest"/> (the bytes of <paramref name="manifestFile"/>) against the signature beside that file.</summary>
    public static string Verify(string manifestFile, byte[] manifest, string keysFolder, string? publicKeyFile = null)
    {
        var sigPath = SignaturePath(manifestFile);
        if (!File.Exists(sigPath))
        {
            throw new ReleaseException($"{manifestFile} is not signed: {sigPath} is missing.");
        }

        SignatureFile signature;
        byte[] signatureBytes;
        try
        {
            signature = JsonSerializer.Deserialize<SignatureFile>(File.ReadAllBytes(sigPath), ManifestJson.Options)
                        ?? throw new ReleaseException($"{sigPath} is empty.");
            signatureBytes = Convert.FromBase64String(signature.Signature ?? "");
        }
        catch (Exception ex) when (ex is JsonException or FormatException)
        {
            throw new ReleaseException($"{sigPath} is not a signature file: {ex.Message}", ex);
        }

        if (signature.Algorithm != Algorithm)
        {
            throw new ReleaseException($"{sigPath} uses {signature.Algorithm}; only {Algorithm} is accepted.");
        }

        var keyFile = publicKeyFile ?? (IsKeyId(signature.KeyId) ? Path.Combine(keysFolder, signature.KeyId + ".pem") : null);
        if (keyFile is null || !File.Exists(keyFile))
        {
            throw new ReleaseException($"The manifest was signed with key {signature.KeyId}, which is not among the trusted keys in {keysFolder}.");
        }

        using var key = ECDsa.Create();
        key.ImportFromPem(File.ReadAllText(keyFile));
        if (KeyId(key) != signature.KeyId)
        {
            throw new ReleaseException($"{keyFile} is not key {signature.KeyId}.");
        }

        if (!key.VerifyData(manifest, signatureBytes, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence))
        {
            throw new ReleaseTamperedException($"{manifestFile} does not match its signature: it was changed after it was signed.");
        }

        return signature.KeyId;
    }

    private static bool IsKeyId(string? id) => id is { Length: 16 } && id.All(char.IsAsciiHexDigitLower);

    private sealed record SignatureFile(string Algorithm, string KeyId, string Signature);
}
