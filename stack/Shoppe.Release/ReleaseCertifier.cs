using System.Globalization;
using System.Runtime.Versioning;
using Shoppe.Conformance;

namespace Shoppe.Release;

/// <summary>Where certification runs.</summary>
public sealed record CertifyTarget(string Kind, Uri? Url = null, string? Token = null, string? CacheProbePath = null)
{
    public static CertifyTarget Local { get; } = new("local");

    public static CertifyTarget Containers { get; } = new("containers");

    /// <summary>Reads <c>local</c>, <c>containers</c> or an http(s) URL.</summary>
    public static CertifyTarget Parse(string text, string? token, string? cacheProbePath) => text switch
    {
        "local" => Local,
        "containers" => Containers,
        _ when Uri.TryCreate(text, UriKind.Absolute, out var url) && url.Scheme is "http" or "https" =>
            new CertifyTarget("url", url, token ?? throw new ReleaseException("Certifying a deployment by URL needs its token (--token or $SHOPPE_TOKEN)."), cacheProbePath),
        _ => throw new ReleaseException($"'{text}' is not a target: use local, containers, or the deployment's http(s) URL."),
    };
}

/// <summary>
/// <c>shoppe release certify</c>: verifies the release, runs the conformance suite and the gates against its
/// artifacts (local processes or containers) or a deployment, records the results and the hardware profile in
/// the manifest, signs it again, writes JUnit XML, the JSON summary and the badge.
/// </summary>
[UnsupportedOSPlatform("windows")]
public sealed class ReleaseCertifier(ReleaseLayout layout, IProgress<string> progress)
{
    /// <summary>Certifies <paramref name="version"/> on <paramref name="target"/>; returns the report (it may have failed).</summary>
    public async Task<ConformanceReport> CertifyAsync(StackVersion version, CertifyTarget target, string? signingKey, CancellationToken cancellationToken, string? gatesFile = null)
    {
        ArgumentNullException.ThrowIfNull(version);
        ArgumentNullException.ThrowIfNull(target);
        var (manifest, keyId, count) = ReleaseVerifier.Verify(layout, version);
        progress.Report($"Verified {version}: signature by key {keyId}, {count} artifacts");
        var keyPath = ReleaseSigning.ResolveKeyPath(signingKey);
        using var key = ReleaseSigning.LoadPrivateKey(keyPath);
        if (ReleaseSigning.KeyId(key) != keyId)
        {
            throw new ReleaseException($"{keyPath} is not the key that signed {version} ({keyId}); certification re-signs the manifest with that key.");
        }

        var gates = GateSet.Load(gatesFile ?? layout.GatesFile);
        var expected = new ExpectedRelease(manifest.StackVersion, manifest.SourceCommit,
            manifest.Components.ToDictionary(c => c.Name, c => c.Version, StringComparer.Ordinal));
        var run = ScratchFolder($"shoppe-certify-{version}-");
        try
        {
            await using var facility = CreateEnvironment(manifest, target, run, cancellationToken);
            if (facility.NotApplicableReason is { } reason)
            {
                // Nothing was certified: the release keeps its last certification.
                throw new ReleaseException($"The {facility.Target} environment does not apply here: {reason}.");
            }

            var report = await ConformanceRun.RunAsync(facility, expected, gates, Path.Combine(run, "scratch"), progress, cancellationToken);
            report.Write(layout.Conformance(version));
            var components = manifest.Components;
            if (facility is ContainerEnvironment containers && report.Certifies)
            {
                // The images that ran and certified are the release's: exported as an OCI layout, pinned by their
                // manifests' digests (a failed run pins nothing and leaves the last layout as it was).
                var digests = await OciImages.ExportAsync(containers.ImageNames, containers.DockerEndpoint, layout.Images(version), manifest.StackVersion,
                    progress, cancellationToken);
                components = [.. manifest.Components.Select(c => digests.TryGetValue(c.Name, out var digest) ? c with { ContainerImage = digest } : c)];
            }

            var certified = manifest with
            {
                Components = components,
                Certification = new Certification(report.Certifies ? "certified" : "failed", report.At, report.Target, report.Profile, report.Limits,
                    report.Summary, report.Checks, report.GatesVersion, report.GatesSha256),
            };
            ReleaseSigning.WriteSigned(layout.Manifest(version), ManifestJson.Serialize(certified), key);
            await File.WriteAllTextAsync(layout.Badge(version),
                Badge.Render($"Coffea Shoppe {version}", report.Certifies, report.At, report.Profile.Describe(), Counts(report.Summary)), cancellationToken);
            return report;
        }
        finally
        {
            try
            {
                Directory.Delete(run, recursive: true);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // A service may still be closing a file; the temporary folder is the system's to clean.
            }
        }
    }

    /// <summary>
    /// A new folder for a run's facility and its limit measurements: under /var/tmp, which is on a disk where /tmp
    /// may be memory (tmpfs), so the disk limits and the cache's blocks are the disk's.
    /// </summary>
    public static string ScratchFolder(string prefix)
    {
        var parent = Directory.Exists("/var/tmp") ? "/var/tmp" : Path.GetTempPath();
        return Directory.CreateDirectory(Path.Combine(parent, prefix + Guid.NewGuid().ToString("N")[..8])).FullName;
    }

    /// <summary>"42 passed, 0 failed, 2 n/a".</summary>
    public static string Counts(ResultSummary summary)
    {
        ArgumentNullException.ThrowIfNull(summary);
        return string.Create(CultureInfo.InvariantCulture, $"{summary.Passed} passed, {summary.Failed} failed, {summary.NotApplicable} n/a");
    }

    private FacilityEnvironment CreateEnvironment(ReleaseManifest manifest, CertifyTarget target, string run, CancellationToken cancellationToken)
    {
        switch (target.Kind)
        {
            case "url":
                return new DeploymentEnvironment(target.Url!, new Dictionary<string, Uri>(), target.Token!) { CacheProbePath = target.CacheProbePath };
            case "containers":
                return new ContainerEnvironment(Unpacked(), layout.SamplesFolder, Path.Combine(run, "containers"), manifest.StackVersion);
            default:
                return LocalProcessEnvironment.FromArtifacts(Unpacked(), Path.Combine(run, "local"), layout.SamplesFolder);
        }

        string Unpacked()
        {
            var folder = Path.Combine(run, "artifacts");
            foreach (var component in manifest.Components)
            {
                cancellationToken.ThrowIfCancellationRequested();
                progress.Report($"Unpacking {component.Name}");
                foreach (var artifact in component.Artifacts)
                {
                    Tarball.Unpack(Path.Combine(layout.Artifacts(StackVersion.Parse(manifest.StackVersion)), artifact.File), folder);
                }
            }

            return folder;
        }
    }
}
