namespace Shoppe.Release.Tests;

/// <summary>
/// <c>shoppe site deploy</c> up to the Pulumi CLI, which cannot be had here: the checks before it (the release's
/// signature, its image digests, the program it was cut with) and the refusal to go on without it.
/// </summary>
public sealed class SiteDeployTests : IAsyncLifetime
{
    private readonly string _folder = Directory.CreateTempSubdirectory("shoppe-deploy-").FullName;

    private string Repo => Path.Combine(_folder, "repo");

    private ReleaseLayout Layout => new(Repo);

    private static StackVersion Version => StackVersion.Parse("0.1.0");

    private string Site => Path.Combine(Repo, "infra", "sites", "laptop.yaml");

    /// <summary>No Pulumi CLI on the PATH, whatever the machine has.</summary>
    private Dictionary<string, string> Environment => new() { ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1", ["PATH"] = Directory.CreateDirectory(Path.Combine(_folder, "empty-path")).FullName };

    public ValueTask InitializeAsync()
    {
        // The repository's own Pulumi program and an example site, in a repository of their own.
        foreach (var file in InfraProgram.Files(Repository.Root).Append("infra/sites/laptop.yaml"))
        {
            var target = Path.Combine(Repo, file);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(Path.Combine(Repository.Root, file), target);
        }

        File.WriteAllText(Path.Combine(Repo, "Shoppe.sln"), "");
        File.WriteAllText(Path.Combine(Repo, "VERSION"), "0.1.0\n");
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync() => await TestFolders.DeleteAsync(_folder);

    [Fact]
    public async Task Deploy_VerifiesTheReleaseItsImagesAndItsProgram_ThenSaysThePulumiCliIsMissing_AndDeploysNothing()
    {
        Release(pinned: ["portal", "delivery", "cache", "transfer", "workflow", "pushdown", "logs"]);

        var (code, output) = await Walkthrough.ShoppeAsync(["site", "deploy", "--site", Site, "--release", "0.1.0"], Repo, Environment);

        Assert.Equal(2, code);
        var text = Flat(output);
        Assert.Contains("Verified 0.1.0: signature by key", text, StringComparison.Ordinal);
        Assert.Contains($"The Pulumi program is the release's: infra {InfraProgram.Read(Repo).Version}", text, StringComparison.Ordinal);
        Assert.Contains("The Pulumi CLI is not on PATH", text, StringComparison.Ordinal);
        Assert.Contains("nothing was deployed", text, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(Repo, "infra", ".stacks")), "a stack was prepared without Pulumi");
    }

    [Fact]
    public async Task Deploy_RefusesAnotherProgram_AnImageNotPinned_AnAlteredManifest_AndNoSiteFile()
    {
        var all = new[] { "portal", "delivery", "cache", "transfer", "workflow", "pushdown", "logs" };
        Release(pinned: all);
        var index = Path.Combine(Repo, "infra", "src", "index.ts");
        var program = await File.ReadAllTextAsync(index, TestContext.Current.CancellationToken);
        await File.AppendAllTextAsync(index, "// changed\n", TestContext.Current.CancellationToken);
        var (code, output) = await DeployAsync();
        Assert.Equal(2, code);
        Assert.Contains("This checkout's Pulumi program", Flat(output), StringComparison.Ordinal);
        Assert.Contains("is not the one 0.1.0 was cut with", Flat(output), StringComparison.Ordinal);
        await File.WriteAllTextAsync(index, program, TestContext.Current.CancellationToken);

        Release(pinned: all[..^1]);
        (code, output) = await DeployAsync();
        Assert.Equal(2, code);
        Assert.Contains("0.1.0 pins no image for logs: certify it with --target containers", Flat(output), StringComparison.Ordinal);

        Release(pinned: all);
        var manifest = Layout.Manifest(Version);
        await File.WriteAllTextAsync(manifest, (await File.ReadAllTextAsync(manifest, TestContext.Current.CancellationToken)).Replace("\"portal\"", "\"p0rtal\"", StringComparison.Ordinal),
            TestContext.Current.CancellationToken);
        (code, _) = await DeployAsync();
        Assert.Equal(1, code);

        Release(pinned: all);
        (code, output) = await Walkthrough.ShoppeAsync(["site", "deploy", "--site", Path.Combine(Repo, "infra", "sites", "none.yaml"), "--release", "0.1.0"], Repo, Environment);
        Assert.Equal(2, code);
        Assert.Contains("There is no site file at", Flat(output), StringComparison.Ordinal);
    }

    private Task<(int Code, string Output)> DeployAsync() =>
        Walkthrough.ShoppeAsync(["site", "deploy", "--site", Site, "--release", "0.1.0"], Repo, Environment);

    /// <summary>The console wraps long lines: the text as one line.</summary>
    private static string Flat(string output) => string.Join(' ', output.Split('\n', StringSplitOptions.TrimEntries));

    /// <summary>A signed release 0.1.0, cut with this repository's program, pinning the images of <paramref name="pinned"/>.</summary>
    private void Release(string[] pinned)
    {
        Directory.CreateDirectory(Layout.Folder(Version));
        using var key = ReleaseSigning.LoadOrCreatePrivateKey(Path.Combine(_folder, "release.key"), out _, out _);
        ReleaseSigning.PublishPublicKey(key, Layout.KeysFolder);
        var services = new[] { "portal", "delivery", "cache", "transfer", "workflow", "pushdown", "logs" };
        var manifest = new ReleaseManifest
        {
            StackVersion = "0.1.0",
            SourceCommit = new string('a', 40),
            CreatedAt = DateTimeOffset.UtcNow,
            Components = [.. services.Select(s => new ReleaseComponent(s, $"services/{s}", "0.1.0", new string('a', 40), [],
                pinned.Contains(s) ? "sha256:" + new string('e', 64) : null))],
            Toolchain = new Toolchain("10.0.100", new string('1', 64), new string('2', 64), []),
            Build = new BuildSettings("Release", "linux-x64", true, true, true, 0),
            Infra = InfraProgram.Read(Repo),
            Signing = new SigningInfo(ReleaseSigning.Algorithm, ReleaseSigning.KeyId(key)),
        };
        ReleaseSigning.WriteSigned(Layout.Manifest(Version), ManifestJson.Serialize(manifest), key);
    }
}
