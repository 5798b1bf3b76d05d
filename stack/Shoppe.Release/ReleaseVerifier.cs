namespace Shoppe.Release;

/// <summary>
/// <c>shoppe release verify</c>: the manifest's signature with a trusted key, then every artifact's size and
/// SHA-256 against the manifest. One changed byte anywhere is a refusal.
/// </summary>
public static class ReleaseVerifier
{
    /// <summary>
    /// The manifest alone: its signature with a trusted key and its version (for a site checking what it runs, or a
    /// badge, where the artifacts are not at hand).
    /// </summary>
    public static (ReleaseManifest Manifest, string KeyId) VerifyManifest(ReleaseLayout layout, StackVersion version, string? publicKeyFile = null)
    {
        var (manifest, keyId, _) = VerifyManifestBytes(layout, version, publicKeyFile);
        return (manifest, keyId);
    }

    /// <summary>As <see cref="VerifyManifest"/>, with the very bytes verified (to hand on, rather than the file as it may be later).</summary>
    public static (ReleaseManifest Manifest, string KeyId, byte[] Bytes) VerifyManifestBytes(ReleaseLayout layout, StackVersion version, string? publicKeyFile = null)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(version);
        var manifestFile = layout.Manifest(version);
        if (!File.Exists(manifestFile))
        {
            throw new ReleaseException($"There is no release {version}: {manifestFile} does not exist.");
        }

        // The bytes read once: the ones verified are the ones parsed.
        var bytes = File.ReadAllBytes(manifestFile);
        var keyId = ReleaseSigning.Verify(manifestFile, bytes, layout.KeysFolder, publicKeyFile);
        var manifest = ManifestJson.Deserialize(bytes);
        return manifest.StackVersion == version.ToString()
            ? (manifest, keyId, bytes)
            : throw new ReleaseException($"{manifestFile} is the manifest of {manifest.StackVersion}, not {version}.");
    }

    /// <summary>Verifies <paramref name="version"/>; returns what was checked, or throws <see cref="ReleaseException"/> naming what is wrong.</summary>
    /// <param name="layout">The repository.</param>
    /// <param name="version">The release.</param>
    /// <param name="artifactsFolder">Where the artifacts are, if not in the release's own folder (e.g. downloaded from GitHub).</param>
    /// <param name="publicKeyFile">A public key to trust instead of stack/keys/.</param>
    public static (ReleaseManifest Manifest, string KeyId, int Artifacts) Verify(ReleaseLayout layout, StackVersion version, string? artifactsFolder = null, string? publicKeyFile = null)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(version);
        var (manifest, keyId) = VerifyManifest(layout, version, publicKeyFile);

        var folder = artifactsFolder ?? layout.Artifacts(version);
        var count = 0;
        foreach (var artifact in manifest.Components.SelectMany(c => c.Artifacts))
        {
            if (artifact.File.Contains('/', StringComparison.Ordinal) || artifact.File.Contains('\\', StringComparison.Ordinal) || artifact.File.StartsWith('.'))
            {
                throw new ReleaseException($"The manifest names an artifact outside its folder: '{artifact.File}'.");
            }

            var path = Path.Combine(folder, artifact.File);
            if (!File.Exists(path))
            {
                throw new ReleaseException($"{artifact.File} is missing from {folder}.");
            }

            var size = new FileInfo(path).Length;
            if (size != artifact.Size)
            {
                throw new ReleaseTamperedException($"{artifact.File} is {size} bytes; the manifest says {artifact.Size}: it is not the released file.");
            }

            var digest = Tarball.Sha256(path);
            if (!string.Equals(digest, artifact.Sha256, StringComparison.Ordinal))
            {
                throw new ReleaseTamperedException($"{artifact.File} has SHA-256 {digest}; the manifest says {artifact.Sha256}: it was altered.");
            }

            count++;
        }

        return (manifest, keyId, count);
    }
}
