using System.Security.Cryptography;

namespace Shoppe.Release.Tests;

public sealed class SigningTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("shoppe-signing-").FullName;

    private string Keys => Path.Combine(folder, "keys");

    private (string Manifest, ECDsa Key) SignedManifest(string text = "{\"stackVersion\": \"0.1.0\"}\n")
    {
        var key = ReleaseSigning.LoadOrCreatePrivateKey(Path.Combine(folder, "release.key"), out _, out _);
        ReleaseSigning.PublishPublicKey(key, Keys);
        var manifest = Path.Combine(folder, "manifest.json");
        File.WriteAllText(manifest, text);
        ReleaseSigning.Sign(manifest, key);
        return (manifest, key);
    }

    [Fact]
    public void NewKey_IsP256_Private_AndItsPublicHalfIsNamedByItsId()
    {
        using var key = ReleaseSigning.LoadOrCreatePrivateKey(Path.Combine(folder, "release.key"), out var path, out var created);
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
        // The attacker also drops their public key into the keys folder under the trusted key's id.
        File.WriteAllText(Path.Combine(Keys, ReleaseSigning.KeyId(key) + ".pem"), stranger.ExportSubjectPublicKeyInfoPem());
        Assert.Throws<ReleaseException>(() => ReleaseSigning.Verify(manifest, Keys));
        key.Dispose();
    }

    public void Dispose() => Directory.Delete(folder, recursive: true);
}
