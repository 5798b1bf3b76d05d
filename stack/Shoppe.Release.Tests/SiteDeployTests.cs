namespace Shoppe.Release.Tests;

/// <summary>
/// <c>shoppe site deploy</c> up to the Pulumi CLI, which cannot be had here (no cluster, no Pulumi CLI): the checks
/// before it (the release's signature and certification, its image digests, the program it was cut with), the refusal
/// to go on without Pulumi, and what it asks of Pulumi (a stand-in on the PATH that records its arguments, as no
/// real one can run on these machines).
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
        Release(pinned: SignedReleases.Services);

        var (code, output) = await Walkthrough.ShoppeAsync(["site", "deploy", "--site", Site, "--release", "0.1.0"], Repo, Environment);

        Assert.Equal(2, code);
        var text = Flat(output);
        Assert.Contains("Verified 0.1.0: signature by key", text, StringComparison.Ordinal);
        Assert.Contains($"The Pulumi program is the release's: infra {InfraProgram.Read(Repo).Version}", text, StringComparison.Ordinal);
        Assert.Contains("The Pulumi CLI is needed and could not be run", text, StringComparison.Ordinal);
        Assert.Contains("nothing was deployed", text, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(Repo, "infra", ".stacks")), "a stack was prepared without Pulumi");
    }

    [Fact]
    public async Task Deploy_RefusesAnotherProgram_AnImageNotPinned_AReleaseNotCertified_AnAlteredManifest_AndNoSiteFile()
    {
        Release(pinned: SignedReleases.Services);
        var index = Path.Combine(Repo, "infra", "src", "index.ts");
        var program = await File.ReadAllTextAsync(index, TestContext.Current.CancellationToken);
        await File.AppendAllTextAsync(index, "// changed\n", TestContext.Current.CancellationToken);
        var (code, output) = await DeployAsync();
        Assert.Equal(2, code);
        Assert.Contains("This checkout's Pulumi program", Flat(output), StringComparison.Ordinal);
        Assert.Contains("is not the one 0.1.0 was cut with", Flat(output), StringComparison.Ordinal);
        await File.WriteAllTextAsync(index, program, TestContext.Current.CancellationToken);

        Release(pinned: SignedReleases.Services[..^1]);
        (code, output) = await DeployAsync();
        Assert.Equal(2, code);
        Assert.Contains("0.1.0 pins no image for logs: certify it with --target containers", Flat(output), StringComparison.Ordinal);

        Release(pinned: SignedReleases.Services, certified: false);
        (code, output) = await DeployAsync();
        Assert.Equal(2, code);
        Assert.Contains("0.1.0 is not certified; only a certified release is deployed", Flat(output), StringComparison.Ordinal);

        Release(pinned: SignedReleases.Services);
        var manifest = Layout.Manifest(Version);
        await File.WriteAllTextAsync(manifest, (await File.ReadAllTextAsync(manifest, TestContext.Current.CancellationToken)).Replace("\"portal\"", "\"p0rtal\"", StringComparison.Ordinal),
            TestContext.Current.CancellationToken);
        (code, _) = await DeployAsync();
        Assert.Equal(1, code);

        Release(pinned: SignedReleases.Services);
        (code, output) = await Walkthrough.ShoppeAsync(["site", "deploy", "--site", Path.Combine(Repo, "infra", "sites", "none.yaml"), "--release", "0.1.0"], Repo, Environment);
        Assert.Equal(2, code);
        Assert.Contains("There is no site file at", Flat(output), StringComparison.Ordinal);
        (code, output) = await Walkthrough.ShoppeAsync(["site", "deploy", "--site", Site, "--release", "0.1.0", "--stack", "--yes"], Repo, Environment);
        Assert.Equal(2, code);
        Assert.Contains("'--yes' is not a Pulumi stack name", Flat(output), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Deploy_AsksPulumiForTheSitesStack_WithTheVerifiedManifest_AndSaysWhenPulumiFails()
    {
        Release(pinned: SignedReleases.Services);
        // The program's packages as npm ci leaves them (so that none is installed here).
        var installed = Path.Combine(Repo, "infra", "node_modules", ".package-lock.json");
        Directory.CreateDirectory(Path.GetDirectoryName(installed)!);
        await File.WriteAllTextAsync(installed, "{}", TestContext.Current.CancellationToken);
        var bin = Directory.CreateDirectory(Path.Combine(_folder, "pulumi-bin")).FullName;
        var log = Path.Combine(_folder, "pulumi.log");
        await File.WriteAllTextAsync(Path.Combine(bin, "pulumi"), $$"""
            #!/bin/sh
            echo "$*" >> {{log}}
            if [ "$1" = up ]; then echo "Updating (laptop)"; exit "${PULUMI_UP_EXIT:-0}"; fi
            exit 0
            """.Replace("\r", "", StringComparison.Ordinal), TestContext.Current.CancellationToken);
        File.SetUnixFileMode(Path.Combine(bin, "pulumi"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var environment = new Dictionary<string, string>(Environment) { ["PATH"] = bin };

        var (code, output) = await Walkthrough.ShoppeAsync(["site", "deploy", "--site", Site, "--release", "0.1.0"], Repo, environment);

        Assert.True(code == 0, output);
        var copy = Path.Combine(Repo, "infra", ".stacks", "laptop", "manifest.json");
        Assert.Equal(
            ["version", "stack select --create --stack laptop", $"config set --stack laptop coffea-shoppe:site {Site}",
             $"config set --stack laptop coffea-shoppe:manifest {copy}", "up --yes --stack laptop"],
            await File.ReadAllLinesAsync(log, TestContext.Current.CancellationToken));
        Assert.Equal(await File.ReadAllBytesAsync(Layout.Manifest(Version), TestContext.Current.CancellationToken), await File.ReadAllBytesAsync(copy, TestContext.Current.CancellationToken));
        Assert.Contains("Updating (laptop)", output, StringComparison.Ordinal);
        Assert.Contains("deployed 0.1.0. Next: shoppe site certify", Flat(output), StringComparison.Ordinal);

        File.Delete(log);
        (code, output) = await Walkthrough.ShoppeAsync(["site", "deploy", "--site", Site, "--release", "0.1.0", "--preview", "--stack", "trial"], Repo, environment);
        Assert.True(code == 0, output);
        Assert.Equal("preview --stack trial", (await File.ReadAllLinesAsync(log, TestContext.Current.CancellationToken))[^1]);

        environment["PULUMI_UP_EXIT"] = "7";
        (code, output) = await Walkthrough.ShoppeAsync(["site", "deploy", "--site", Site, "--release", "0.1.0"], Repo, environment);
        Assert.Equal(3, code);
        Assert.Contains("pulumi failed (exit code 7)", Flat(output), StringComparison.Ordinal);
    }

    private Task<(int Code, string Output)> DeployAsync() =>
        Walkthrough.ShoppeAsync(["site", "deploy", "--site", Site, "--release", "0.1.0"], Repo, Environment);

    private static string Flat(string output) => SignedReleases.Flat(output);

    /// <summary>A signed release 0.1.0, cut with this repository's program, pinning the images of <paramref name="pinned"/>.</summary>
    private void Release(string[] pinned, bool certified = true) =>
        SignedReleases.Write(Layout, Path.Combine(_folder, "release.key"),
            SignedReleases.Services.Select(s => (s, pinned.Contains(s) ? "sha256:" + new string('e', 64) : (string?)null)), InfraProgram.Read(Repo), certified);
}
