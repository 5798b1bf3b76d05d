using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Shoppe.Release;

/// <summary>
/// A release's service images as one OCI image layout (<c>stack/releases/&lt;version&gt;/images/</c>: a reference
/// <c>&lt;service&gt;-&lt;version&gt;</c> per service, the base layer stored once), written from the engine that built
/// and certified them, and pushed from there to a site's own registry. skopeo (Debian's package) copies; the digests
/// are the image manifests' — what a registry serves an image by, so <c>registry/name@digest</c> pins exactly it.
/// </summary>
public static partial class OciImages
{
    /// <summary>The layout's reference of a service's image.</summary>
    public static string Reference(string component, string version) => $"{component}-{version}";

    /// <summary>
    /// Writes the layout afresh from the engine at <paramref name="dockerHost"/> (<c>unix:///…</c>) and returns each
    /// service's manifest digest. <paramref name="images"/> names each service's image in the engine (<c>shoppe/cache:0.1.0</c>).
    /// </summary>
    public static async Task<IReadOnlyDictionary<string, string>> ExportAsync(IReadOnlyDictionary<string, string> images, string dockerHost, string layout,
        string version, IProgress<string> progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(progress);
        // Written beside, then put in place whole: a failed export leaves the last layout as it was.
        var writing = LayoutPath(layout + ".writing");
        if (Directory.Exists(writing))
        {
            Directory.Delete(writing, recursive: true);
        }

        foreach (var (component, image) in images)
        {
            progress.Report($"Exporting the image of {component} to {layout}");
            await SkopeoAsync(["copy", "--quiet", "--src-daemon-host", dockerHost, $"docker-daemon:{image}", $"oci:{writing}:{Reference(component, version)}"], cancellationToken);
        }

        var index = ReadIndex(writing);
        var digests = images.Keys.ToDictionary(c => c, c => index[Reference(c, version)], StringComparer.Ordinal);
        if (Directory.Exists(layout))
        {
            Directory.Delete(layout, recursive: true);
        }

        Directory.Move(writing, layout);
        return digests;
    }

    /// <summary>The layout's references and their manifest digests (its index.json).</summary>
    public static IReadOnlyDictionary<string, string> ReadIndex(string layout)
    {
        var file = Path.Combine(layout, "index.json");
        if (!File.Exists(file))
        {
            throw new ReleaseException($"{layout} is not an OCI image layout: it has no index.json.");
        }

        using var json = JsonDocument.Parse(File.ReadAllBytes(file));
        var references = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in json.RootElement.GetProperty("manifests").EnumerateArray())
        {
            if (entry.TryGetProperty("annotations", out var annotations) && annotations.TryGetProperty("org.opencontainers.image.ref.name", out var name))
            {
                references[name.GetString()!] = entry.GetProperty("digest").GetString()!;
            }
        }

        return references;
    }

    /// <summary>
    /// Every service image the (verified) manifest names, checked in the layout: its reference points at the
    /// manifest's digest and that blob's bytes hash to it. Throws naming the first that differs.
    /// </summary>
    public static IReadOnlyList<(string Component, string Reference, string Digest)> Verify(ReleaseManifest manifest, string layout)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        var images = manifest.Components.Where(c => c.ContainerImage is not null).ToList();
        if (images.Count == 0)
        {
            throw new ReleaseException($"{manifest.StackVersion} has no container images: certify it with --target containers first (it builds and exports them).");
        }

        var index = ReadIndex(layout);
        var verified = new List<(string, string, string)>();
        foreach (var component in images)
        {
            var reference = Reference(component.Name, manifest.StackVersion);
            var digest = component.ContainerImage!;
            if (!index.TryGetValue(reference, out var indexed))
            {
                throw new ReleaseException($"{layout} holds no image {reference}; the manifest names {digest} for {component.Name}.");
            }

            if (!string.Equals(indexed, digest, StringComparison.Ordinal))
            {
                throw new ReleaseTamperedException($"{layout} has {reference} at {indexed}; the signed manifest says {digest}: it is not the certified image.");
            }

            var blob = Path.Combine(layout, "blobs", "sha256", digest["sha256:".Length..]);
            var actual = File.Exists(blob) ? "sha256:" + Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(blob))) : "missing";
            if (!string.Equals(actual, digest, StringComparison.Ordinal))
            {
                throw new ReleaseTamperedException($"The manifest blob of {reference} is {actual}, not {digest}: the layout was altered.");
            }

            verified.Add((component.Name, reference, digest));
        }

        return verified;
    }

    /// <summary>
    /// Pushes every service image of <paramref name="manifest"/> from <paramref name="layout"/> to
    /// <c>&lt;registry&gt;/&lt;service&gt;:&lt;version&gt;</c>, then asks the registry for each and requires the certified
    /// digest back. Returns the pinned references (<c>registry/service@sha256:…</c>) a site file's registry resolves to.
    /// <paramref name="registry"/> is <c>host[:port][/path]</c>, as in a site file; <paramref name="tlsVerify"/> is false
    /// only for a registry without TLS (a loopback one).
    /// </summary>
    public static async Task<IReadOnlyList<string>> PushAsync(ReleaseManifest manifest, string layout, string registry, bool tlsVerify, IProgress<string> progress,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(progress);
        if (!RegistryPattern().IsMatch(registry))
        {
            throw new ReleaseException($"'{registry}' is not a registry: give host[:port][/path] in lower case, without a scheme or a tag (as a site file's registry).");
        }

        if (manifest.Certification?.State != "certified")
        {
            throw new ReleaseException($"{manifest.StackVersion} is {(manifest.Certification is null ? "not certified" : "not certified: its last certification failed")}; only a certified release's images are pushed.");
        }

        var images = Verify(manifest, layout);
        var tls = tlsVerify ? "true" : "false";
        var pinned = new List<string>();
        foreach (var (component, reference, digest) in images)
        {
            var destination = $"{registry}/{component}:{manifest.StackVersion}";
            progress.Report($"Pushing {component} to {destination}");
            await SkopeoAsync(["copy", "--quiet", "--preserve-digests", $"--dest-tls-verify={tls}", $"oci:{LayoutPath(layout)}:{reference}", $"docker://{destination}"], cancellationToken);
            // The digest is the line that is one (skopeo may warn on the lines around it).
            var served = (await SkopeoAsync(["inspect", $"--tls-verify={tls}", "--format", "{{.Digest}}", $"docker://{destination}"], cancellationToken))
                .Split('\n', StringSplitOptions.TrimEntries).LastOrDefault(l => DigestPattern().IsMatch(l)) ?? "no digest";
            if (!string.Equals(served, digest, StringComparison.Ordinal))
            {
                throw new ReleaseException($"{destination} is {served} at the registry, not the certified {digest}: the registry rewrote the image.");
            }

            pinned.Add($"{registry}/{component}@{digest}");
        }

        return pinned;
    }

    private static Task<string> SkopeoAsync(string[] arguments, CancellationToken cancellationToken) =>
        Processes.ToolAsync("skopeo", arguments, Environment.CurrentDirectory, "skopeo exports and pushes images and could not be run (apt-get install skopeo)", cancellationToken);

    /// <summary>skopeo's transport names a layout <c>oci:PATH:REFERENCE</c>: a path with a colon would be read wrongly.</summary>
    private static string LayoutPath(string layout) =>
        layout.Contains(':', StringComparison.Ordinal) ? throw new ReleaseException($"An image layout's path may not hold ':' (skopeo reads it as a reference): {layout}.") : layout;

    [GeneratedRegex("^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]+([._-][a-z0-9]+)*)*$")]
    private static partial Regex RegistryPattern();

    [GeneratedRegex("^sha256:[0-9a-f]{64}$")]
    private static partial Regex DigestPattern();
}
