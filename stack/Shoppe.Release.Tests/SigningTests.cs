using System.Security.Cryptography;

namespace Shoppe.Release.Tests;

public sealed class SigningTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("shoppe-signing-").FullName;

    private string Keys => Path.Combine(_folder, "keys");

    private (string Manifest, ECDsa Key) SignedManifest(string text = "{\"stackVersion\": \"0.1.0\"}\n")
    {
        var key = ReleaseSigning.LoadOrCreatePrivateKey(Path.Combine(_folder, "release.key"), out _, out _);
        ReleaseSigning.PublishPublicKey(key, Keys);
        var manifest = Path.Combine(_folder, "manifest.json");
        File.WriteAllText(manifest, text);
        ReleaseSigning.Sign(manifest, key);
        return (manifest, key);
    }

    [Fact]
    public void NewKey_IsP256_Private_AndItsPublicHalfIsNamedByItsId()
    {
        using var key = ReleaseSigning.LoadOrCreatePrivateKey(Path.Combine(_folder, "release.key"), out var path, out var created);
        Assert.True(created);
        Assert.Equal(256, key.KeySize);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        var (publicFile, written) = ReleaseSigning.PublishPublicKey(key, Keys);
        Assert.True(written);
        Assert.Equal(ReleaseSigning.KeyId(key) + ".pem", Path.GetFileName(publicFile));
        Assert.DoesNotContain("PRIVATE", File.ReadAllText(publicFile), StringComparison.Ordinal);
        using var again = ReleaseSigning.LoadOrCreatePrivateKey(path, out _, out var createdAgain);
        Assert.False(createdAgain);
        Assert.Equal(ReleaseSigning.KeyId(key), ReleaseSigning.KeyId(again));
    }

    [Fact]
    public void PrivateKey_RefusesAPublicKeyAndAFileOthersMayRead()
    {
        using var key = ReleaseSigning.LoadOrCreatePrivateKey(Path.Combine(_folder, "release.key"), out var path, out _);
        var (publicFile, _) = ReleaseSigning.PublishPublicKey(key, Keys);
        File.SetUnixFileMode(publicFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        Assert.Contains("is not a PEM private key", Assert.Throws<ReleaseException>(() => ReleaseSigning.LoadPrivateKey(publicFile)).Message, StringComparison.Ordinal);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        Assert.Contains("chmod 600", Assert.Throws<ReleaseException>(() => ReleaseSigning.LoadPrivateKey(path)).Message, StringComparison.Ordinal);
        Assert.Contains("no signing key", Assert.Throws<ReleaseException>(() => ReleaseSigning.LoadPrivateKey(Path.Combine(_folder, "none.key"))).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Verify_AcceptsTheSignedBytes()
    {
        var (manifest, key) = SignedManifest();
        Assert.Equal(ReleaseSigning.KeyId(key), ReleaseSigning.Verify(manifest, Keys));
        key.Dispose();
    }

    [Fact]
    public void Verify_RefusesAManifestChangedByOneByte_AnywhereInIt()
    {
        var (manifest, key) = SignedManifest();
        var original = File.ReadAllBytes(manifest);
        for (var i = 0; i < original.Length; i++)
        {
            var changed = (byte[])original.Clone();
            changed[i] ^= 0x01;
            File.WriteAllBytes(manifest, changed);
            Assert.Throws<ReleaseTamperedException>(() => ReleaseSigning.Verify(manifest, Keys));
        }

        File.WriteAllBytes(manifest, original);
        ReleaseSigning.Verify(manifest, Keys);
        key.Dispose();
    }

    [Fact]
    public void Verify_RefusesASignatureByAnUntrustedKey_AndAMissingSignature()
    {
        var (manifest, key) = SignedManifest();
        using var stranger = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        ReleaseSigning.Sign(manifest, stranger); // re-signed by someone whose key is not in stack/keys
        var error = Assert.Throws<ReleaseException>(() => ReleaseSigning.Verify(manifest, Keys));
        Assert.Contains("not among the trusted keys", error.Message, StringComparison.Ordinal);

        File.Delete(ReleaseSigning.SignaturePath(manifest));
        Assert.Contains("is not signed", Assert.Throws<ReleaseException>(() => ReleaseSigning.Verify(manifest, Keys)).Message, StringComparison.Ordinal);
        key.Dispose();
    }

    [Fact]
    public void Verify_RefusesAForgedKeyFileUnderATrustedKeysName()
    {
        var (manifest, key) = SignedManifest();
        using var stranger = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        ReleaseSigning.Sign(manifest, stranger);
        // The attacker claims the trusted key's id in the signature and drops their public key under that name.
        var sig = ReleaseSigning.SignaturePath(manifest);
        File.WriteAllText(sig, File.ReadAllText(sig).Replace(ReleaseSigning.KeyId(stranger), ReleaseSigning.KeyId(key), StringComparison.Ordinal));
        File.WriteAllText(Path.Combine(Keys, ReleaseSigning.KeyId(key) + ".pem"), stranger.ExportSubjectPublicKeyInfoPem());
        var error = Assert.Throws<ReleaseException>(() => ReleaseSigning.Verify(manifest, Keys));
        Assert.Contains("is not key " + ReleaseSigning.KeyId(key), error.Message, StringComparison.Ordinal);
        key.Dispose();
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
