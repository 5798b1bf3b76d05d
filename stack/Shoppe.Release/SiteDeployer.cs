namespace Shoppe.Release;

/// <summary>What a deployment is to do: <c>up</c> (deploy) or <c>preview</c> (say what would change).</summary>
public enum DeployAction
{
    Up,
    Preview,
}

/// <summary>
/// <c>shoppe site deploy</c>: checks the release's signature and certification, that it pins every image by digest,
/// and that this checkout's Pulumi program is the one the release was cut with; then runs that program (<c>pulumi
/// up</c> in infra/) on the verified manifest's bytes and the site file, in the site's Pulumi stack.
/// </summary>
public sealed class SiteDeployer(ReleaseLayout layout, IProgress<string> progress)
{
    /// <summary>The Pulumi CLI's program name (on PATH).</summary>
    public const string Pulumi = "pulumi";

    private const string PulumiMissing =
        "The Pulumi CLI is needed and could not be run (https://www.pulumi.com/docs/iac/download-install/); the release, its images and the program were verified, nothing was deployed";

    /// <summary>Verifies, then deploys; returns Pulumi's exit code (0: the stack is as the site file says).</summary>
    /// <param name="siteFile">The site file.</param>
    /// <param name="version">The release it deploys.</param>
    /// <param name="stack">The Pulumi stack (default: the site file's name).</param>
    /// <param name="action">Deploy, or preview the changes.</param>
    /// <param name="cancellationToken">Stops the deployment: Pulumi is interrupted and given a minute to cancel cleanly.</param>
    public async Task<int> DeployAsync(string siteFile, StackVersion version, string? stack, DeployAction action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(version);
        var site = Path.GetFullPath(siteFile);
        if (!File.Exists(site))
        {
            throw new ReleaseException($"There is no site file at {site}.");
        }

        var stackName = stack ?? Path.GetFileNameWithoutExtension(site);
        if (stackName.Length is 0 or > 100 || !char.IsAsciiLetterOrDigit(stackName[0]) || !stackName.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
        {
            throw new ReleaseException($"'{stackName}' is not a Pulumi stack name: a letter or digit, then letters, digits, '-', '_' and '.' (pass --stack).");
        }

        var (manifest, keyId, bytes) = ReleaseVerifier.VerifyManifestBytes(layout, version);
        progress.Report($"Verified {version}: signature by key {keyId}");
        if (manifest.Certification?.State != "certified")
        {
            throw new ReleaseException($"{version} is not certified{(manifest.Certification is null ? "" : ": its last certification failed")}; only a certified release is deployed.");
        }

        var unpinned = manifest.Components.Where(c => c.Name != "cli" && c.ContainerImage is null).Select(c => c.Name).ToList();
        if (unpinned.Count > 0)
        {
            throw new ReleaseException($"{version} pins no image for {string.Join(", ", unpinned)}: certify it with --target containers, then push its images (shoppe release images push).");
        }

        var program = InfraProgram.Read(layout.Root);
        if (program != manifest.Infra)
        {
            throw new ReleaseException($"This checkout's Pulumi program ({program.Version}, {program.Sha256[..12]}) is not the one {version} was cut with "
                + $"({manifest.Infra.Version}, {manifest.Infra.Sha256[..12]}): check out its commit, {manifest.SourceCommit[..12]}.");
        }

        progress.Report($"The Pulumi program is the release's: infra {program.Version} ({program.Sha256[..12]})");
        var infra = Path.Combine(layout.Root, InfraProgram.Folder);
        await Processes.ToolAsync(Pulumi, ["version"], infra, PulumiMissing, cancellationToken);

        // The bytes verified, not the file as it may be by now; kept beside the stack (infra/.stacks/, not committed)
        // for the stack's later runs.
        var manifestCopy = Path.Combine(Directory.CreateDirectory(Path.Combine(infra, ".stacks", stackName)).FullName, "manifest.json");
        await File.WriteAllBytesAsync(manifestCopy, bytes, cancellationToken);
        var installed = new FileInfo(Path.Combine(infra, "node_modules", ".package-lock.json"));
        if (!installed.Exists || installed.LastWriteTimeUtc < File.GetLastWriteTimeUtc(Path.Combine(infra, "package-lock.json")))
        {
            // The lock file's packages, with their install scripts: the Kubernetes provider's plugin comes with its package.
            progress.Report("Installing the program's packages (npm ci)");
            await Processes.ToolAsync("npm", ["ci", "--no-audit", "--no-fund"], infra, "npm installs the program's packages and could not be run", cancellationToken);
        }

        await Processes.ToolAsync(Pulumi, ["stack", "select", "--create", "--stack", stackName], infra, PulumiMissing, cancellationToken);
        await Processes.ToolAsync(Pulumi, ["config", "set", "--stack", stackName, "coffea-shoppe:site", site], infra, PulumiMissing, cancellationToken);
        await Processes.ToolAsync(Pulumi, ["config", "set", "--stack", stackName, "coffea-shoppe:manifest", manifestCopy], infra, PulumiMissing, cancellationToken);
        progress.Report($"pulumi {(action == DeployAction.Up ? "up" : "preview")} --stack {stackName}");
        var (code, _) = await Processes.RunAsync(Pulumi, action == DeployAction.Up ? ["up", "--yes", "--stack", stackName] : ["preview", "--stack", stackName],
            infra, cancellationToken, onLine: progress.Report, interruptFirst: TimeSpan.FromMinutes(1));
        return code;
    }
}
