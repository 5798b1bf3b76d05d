namespace Shoppe.Release;

/// <summary>Where a repository keeps its releases: <c>stack/releases/&lt;version&gt;/</c> and the trusted keys in <c>stack/keys/</c>.</summary>
public sealed class ReleaseLayout(string repositoryRoot)
{
    /// <summary>The repository's root (the folder with Shoppe.sln and VERSION).</summary>
    public string Root { get; } = Path.GetFullPath(repositoryRoot);

    public string VersionFile => Path.Combine(Root, "VERSION");

    public string ReleasesFolder => Path.Combine(Root, "stack", "releases");

    /// <summary>The public keys a release may be signed with.</summary>
    public string KeysFolder => Path.Combine(Root, "stack", "keys");

    public string GatesFile => Path.Combine(Root, "conformance", "gates.json");

    public string SamplesFolder => Path.Combine(Root, "conformance", "data", "nanoaod");

    public string PerformanceFile => Path.Combine(Root, "docs", "performance.md");

    public string Folder(StackVersion version) => Path.Combine(ReleasesFolder, version.ToString());

    public string Manifest(StackVersion version) => Path.Combine(Folder(version), "manifest.json");

    public string Notes(StackVersion version) => Path.Combine(Folder(version), "release-notes.md");

    public string Badge(StackVersion version) => Path.Combine(Folder(version), "badge.svg");

    /// <summary>The built artifacts: large, never committed (they go to the GitHub release).</summary>
    public string Artifacts(StackVersion version) => Path.Combine(Folder(version), "artifacts");

    /// <summary>The service images as one OCI image layout, from a certification in containers: large, never committed (a site pushes them to its registry).</summary>
    public string Images(StackVersion version) => Path.Combine(Folder(version), "images");

    /// <summary>The last certification's JUnit XML and JSON summary.</summary>
    public string Conformance(StackVersion version) => Path.Combine(Folder(version), "conformance");

    /// <summary>The released versions, oldest first (folders that hold a manifest).</summary>
    public IReadOnlyList<StackVersion> Released() =>
        Directory.Exists(ReleasesFolder)
            ? Directory.GetDirectories(ReleasesFolder)
                .Where(d => File.Exists(Path.Combine(d, "manifest.json")))
                .Select(d => StackVersion.TryParse(Path.GetFileName(d), out var v) ? v : null)
                .OfType<StackVersion>()
                .Order()
                .ToList()
            : [];

    /// <summary>Finds the repository above <paramref name="start"/> (the current folder by default).</summary>
    public static ReleaseLayout Find(string? start = null)
    {
        var dir = new DirectoryInfo(start ?? Environment.CurrentDirectory);
        while (dir is not null && !(File.Exists(Path.Combine(dir.FullName, "Shoppe.sln")) && File.Exists(Path.Combine(dir.FullName, "VERSION"))))
        {
            dir = dir.Parent;
        }

        return dir is null
            ? throw new ReleaseException($"No Coffea Shoppe repository (Shoppe.sln and VERSION) at or above {start ?? Environment.CurrentDirectory}.")
            : new ReleaseLayout(dir.FullName);
    }
}
