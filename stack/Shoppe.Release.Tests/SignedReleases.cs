using Shoppe.Conformance;

namespace Shoppe.Release.Tests;

/// <summary>Signed release manifests written straight into a repository's layout, for the commands that read them.</summary>
internal static class SignedReleases
{
    public static readonly string[] Services = ["portal", "delivery", "cache", "transfer", "workflow", "pushdown", "logs"];

    /// <summary>
    /// Writes and signs release 0.1.0 of <paramref name="components"/> (service name and image digest, or none) with
    /// the key at <paramref name="keyFile"/> (its public half trusted), cut with <paramref name="infra"/>, and certified
    /// unless <paramref name="certified"/> says otherwise.
    /// </summary>
    public static void Write(ReleaseLayout layout, string keyFile, IEnumerable<(string Name, string? Image)> components, InfraProgram infra, bool certified = true)
    {
        var version = StackVersion.Parse("0.1.0");
        Directory.CreateDirectory(layout.Folder(version));
        using var key = ReleaseSigning.LoadOrCreatePrivateKey(keyFile, out _, out _);
        ReleaseSigning.PublishPublicKey(key, layout.KeysFolder);
        var checks = new List<CheckResult> { new("contract", "delivery.health", Outcome.Passed, null, 0.1) };
        var manifest = new ReleaseManifest
        {
            StackVersion = "0.1.0",
            SourceCommit = new string('a', 40),
            CreatedAt = DateTimeOffset.UtcNow,
            Components = [.. components.Select(c => new ReleaseComponent(c.Name, $"services/{c.Name}", "0.1.0", new string('a', 40), [], c.Image))],
            Toolchain = new Toolchain("10.0.100", new string('1', 64), new string('2', 64), []),
            Build = new BuildSettings("Release", "linux-x64", true, true, true, 0),
            Infra = infra,
            Signing = new SigningInfo(ReleaseSigning.Algorithm, ReleaseSigning.KeyId(key)),
            Certification = certified
                ? new Certification("certified", DateTimeOffset.UtcNow, "containers", HardwareProfile.Detect(Path.GetTempPath()), null, ResultSummary.Of(checks), checks, 1, new string('3', 64))
                : null,
        };
        ReleaseSigning.WriteSigned(layout.Manifest(version), ManifestJson.Serialize(manifest), key);
    }

    /// <summary>A command's output as one line (the console wraps long lines).</summary>
    public static string Flat(string output) => string.Join(' ', output.Split('\n', StringSplitOptions.TrimEntries));
}
