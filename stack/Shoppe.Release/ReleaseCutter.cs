using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Shoppe.Conformance;

namespace Shoppe.Release;

/// <summary>
/// <c>shoppe release cut &lt;version&gt;</c>: refuses a dirty tree, a version not above the last release, or a
/// failing build; then builds every component (self-contained linux-x64, deterministic, CI paths), packs each as
/// a reproducible tarball, and writes the signed manifest and the release notes. VERSION becomes the new version.
/// </summary>
public sealed class ReleaseCutter(ReleaseLayout layout, IProgress<string> progress)
{
    /// <summary>The runtime every artifact is built for.</summary>
    public const string RuntimeIdentifier = "linux-x64";

    /// <summary>Cuts <paramref name="versionText"/>, signing with the key at <paramref name="signingKey"/> (see <see cref="ReleaseSigning.LoadOrCreatePrivateKey"/>).</summary>
    public async Task<ReleaseManifest> CutAsync(string versionText, string? signingKey, CancellationToken cancellationToken)
    {
        var version = StackVersion.TryParse(versionText, out var v) ? v : throw new ReleaseException($"'{versionText}' is not a version: use MAJOR.MINOR.PATCH, e.g. 0.2.0.");
        var dirty = await Processes.GitAsync(layout.Root, cancellationToken, "status", "--porcelain", "--untracked-files=normal");
        if (dirty.Length > 0)
        {
            var lines = dirty.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            throw new ReleaseException($"The working tree is not clean ({lines.Length} changes, e.g. '{lines[0].Trim()}'): commit or stash them; a release is built from a commit.");
        }

        var released = layout.Released();
        var previous = released.Count == 0 ? null : released[^1];
        if (previous is not null && version <= previous)
        {
            throw new ReleaseException($"{version} is not above the last release, {previous}.");
        }

        if (Directory.Exists(layout.Folder(version)))
        {
            throw new ReleaseException($"{layout.Folder(version)} exists already; remove it or choose another version.");
        }

        var commit = (await Processes.GitAsync(layout.Root, cancellationToken, "rev-parse", "HEAD")).Trim();
        var epoch = long.Parse((await Processes.GitAsync(layout.Root, cancellationToken, "log", "-1", "--format=%ct")).Trim(), CultureInfo.InvariantCulture);
        var sourceDate = DateTimeOffset.FromUnixTimeSeconds(epoch);
        using var key = ReleaseSigning.LoadOrCreatePrivateKey(signingKey, out var keyPath, out var created);
        progress.Report(created ? $"Created a release signing key at {keyPath} (keep it; its public half goes to stack/keys/)" : $"Signing with {keyPath}");

        var versionBefore = await File.ReadAllTextAsync(layout.VersionFile, cancellationToken);
        var folder = layout.Folder(version);
        var staging = Path.Combine(folder, ".staging");
        var succeeded = false;
        try
        {
            await File.WriteAllTextAsync(layout.VersionFile, version + "\n", cancellationToken);
            Directory.CreateDirectory(staging);
            var environment = new Dictionary<string, string>
            {
                ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
                ["DOTNET_NOLOGO"] = "1",
                ["SOURCE_DATE_EPOCH"] = epoch.ToString(CultureInfo.InvariantCulture),
            };

            progress.Report("Building the solution (Release)");
            await RunDotnetAsync(["build", "Shoppe.sln", "-c", "Release", "-nologo", "-clp:ErrorsOnly", "-p:ContinuousIntegrationBuild=true"], environment,
                "The build fails", cancellationToken);

            var components = new List<ReleaseComponent>();
            var packages = new SortedSet<string>(StringComparer.Ordinal);
            foreach (var component in FacilityComponents.All)
            {
                var clock = Stopwatch.StartNew();
                progress.Report($"Publishing {component.Name} ({component.Project}), self-contained {RuntimeIdentifier}");
                var output = Path.Combine(staging, component.Name);
                await RunDotnetAsync(
                [
                    "publish", component.Project, "-c", "Release", "-r", RuntimeIdentifier, "--self-contained", "-o", output, "-nologo", "-clp:ErrorsOnly",
                    "-p:ContinuousIntegrationBuild=true", "-p:Deterministic=true",
                ], environment, $"Publishing {component.Name} fails", cancellationToken);

                var (componentVersion, componentCommit) = ReadVersion(Path.Combine(output, component.Assembly + ".dll"), commit);
                var artifact = $"shoppe-{component.Name}-{version}-{RuntimeIdentifier}.tar.gz";
                var archive = Path.Combine(staging, artifact);
                Tarball.Pack(output, component.Name, archive, sourceDate);
                Directory.Delete(output, recursive: true);
                var size = new FileInfo(archive).Length;
                components.Add(new ReleaseComponent(component.Name, component.Project.Replace('\\', '/'), componentVersion, componentCommit,
                    [new ReleaseArtifact(artifact, size, Tarball.Sha256(archive))], ContainerImage: null));
                foreach (var package in ReadPackages(Path.Combine(layout.Root, Path.GetDirectoryName(component.Project)!, "obj", "project.assets.json")))
                {
                    packages.Add(package);
                }

                progress.Report(string.Create(CultureInfo.InvariantCulture, $"  {artifact}: {size / 1048576.0:F1} MiB in {clock.Elapsed.TotalSeconds:F0} s"));
            }

            var (sdkCode, sdk) = await Processes.RunAsync("dotnet", ["--version"], layout.Root, cancellationToken);
            var manifest = new ReleaseManifest
            {
                StackVersion = version.ToString(),
                PreviousVersion = previous?.ToString(),
                SourceCommit = commit,
                CreatedAt = DateTimeOffset.UtcNow,
                Components = components,
                Toolchain = new Toolchain(sdkCode == 0 ? sdk.Trim() : "unknown", Tarball.Sha256(Path.Combine(layout.Root, "global.json")),
                    Tarball.Sha256(Path.Combine(layout.Root, "Directory.Packages.props")), [.. packages]),
                Build = new BuildSettings("Release", RuntimeIdentifier, SelfContained: true, Deterministic: true, ContinuousIntegrationBuild: true, epoch),
                Infra = InfraProgram.Read(layout.Root),
                Signing = new SigningInfo(ReleaseSigning.Algorithm, ReleaseSigning.KeyId(key)),
            };

            Directory.Move(staging, layout.Artifacts(version));
            ReleaseSigning.WriteSigned(layout.Manifest(version), ManifestJson.Serialize(manifest), key);
            var (keyFile, written) = ReleaseSigning.PublishPublicKey(key, layout.KeysFolder);
            if (written)
            {
                progress.Report($"Added the public key {Path.GetRelativePath(layout.Root, keyFile)}: commit it with the release");
            }

            await File.WriteAllTextAsync(layout.Notes(version), await RenderNotesAsync(version, previous, commit, manifest, cancellationToken), cancellationToken);
            succeeded = true;
            progress.Report($"Cut {version}: {Path.GetRelativePath(layout.Root, layout.Manifest(version))} (signed), release notes, {components.Count} artifacts");
            return manifest;
        }
        finally
        {
            if (!succeeded)
            {
                await File.WriteAllTextAsync(layout.VersionFile, versionBefore, CancellationToken.None);
                if (Directory.Exists(folder))
                {
                    Directory.Delete(folder, recursive: true);
                }
            }
        }
    }

    private async Task RunDotnetAsync(string[] arguments, Dictionary<string, string> environment, string failure, CancellationToken cancellationToken)
    {
        var (code, output) = await Processes.RunAsync("dotnet", arguments, layout.Root, cancellationToken, environment: environment);
        if (code != 0)
        {
            var errors = output.Split('\n').Where(l => l.Contains("error", StringComparison.OrdinalIgnoreCase)).Distinct().Take(10).ToList();
            throw new ReleaseException($"{failure}; nothing was released:\n{string.Join('\n', errors.Count > 0 ? errors : output.Split('\n').TakeLast(15))}");
        }
    }

    /// <summary>The notes for a cut: commits since the previous release's commit, and the performance figures that changed since then.</summary>
    private async Task<string> RenderNotesAsync(StackVersion version, StackVersion? previous, string commit, ReleaseManifest manifest, CancellationToken cancellationToken)
    {
        string? since = null;
        if (previous is not null)
        {
            since = ManifestJson.Deserialize(await File.ReadAllBytesAsync(layout.Manifest(previous), cancellationToken)).SourceCommit;
        }

        var log = await Processes.GitAsync(layout.Root, cancellationToken, "log", "--no-merges", "--format=%H%x1f%s", since is null ? commit : $"{since}..{commit}");
        var commits = log.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split('\u001f', 2))
            .Where(p => p.Length == 2)
            .Select(p => new CommitInfo(p[0], p[1]))
            .ToList();
        string? before = null;
        if (since is not null)
        {
            var (code, text) = await Processes.RunAsync("git", ["show", $"{since}:docs/performance.md"], layout.Root, cancellationToken);
            before = code == 0 ? text : "";
        }

        var now = File.Exists(layout.PerformanceFile) ? await File.ReadAllTextAsync(layout.PerformanceFile, cancellationToken) : "";
        return ReleaseNotes.Render(version, previous, commit, manifest.CreatedAt, manifest.Components, commits, ReleaseNotes.ChangedFigures(before, now));
    }

    /// <summary>A published assembly's version and commit, from its informational version ("0.1.0+&lt;commit&gt;").</summary>
    private static (string Version, string Commit) ReadVersion(string assembly, string fallbackCommit)
    {
        var informational = FileVersionInfo.GetVersionInfo(assembly).ProductVersion
                            ?? throw new ReleaseException($"{assembly} carries no version.");
        var plus = informational.IndexOf('+', StringComparison.Ordinal);
        return plus < 0 ? (informational, fallbackCommit) : (informational[..plus], informational[(plus + 1)..]);
    }

    /// <summary>Every package a project resolved ("id/version"), from its restore output.</summary>
    private static IEnumerable<string> ReadPackages(string assetsFile)
    {
        if (!File.Exists(assetsFile))
        {
            yield break;
        }

        using var json = JsonDocument.Parse(File.ReadAllBytes(assetsFile));
        if (!json.RootElement.TryGetProperty("libraries", out var libraries))
        {
            yield break;
        }

        foreach (var library in libraries.EnumerateObject())
        {
            if (library.Value.TryGetProperty("type", out var type) && type.GetString() == "package")
            {
                yield return library.Name;
            }
        }
    }
}
