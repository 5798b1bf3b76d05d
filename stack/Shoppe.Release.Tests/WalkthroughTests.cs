using System.Text.Json;
using Json.Schema;
using Shoppe.Conformance;

namespace Shoppe.Release.Tests;

/// <summary>The docs' walk-throughs, run as a release manager and a site admin would run them.</summary>
public sealed class WalkthroughTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ReleaseProcess_OnAFreshClone_CutsCertifiesVerifiesAndPlansThePublication()
    {
        var folder = Directory.CreateTempSubdirectory("shoppe-release-").FullName;
        try
        {
            var repo = await Walkthrough.CloneAsync(folder);
            var env = new Dictionary<string, string> { ["SHOPPE_RELEASE_KEY"] = Path.Combine(folder, "release.key"), ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1" };
            var outputs = new Dictionary<string, string>();
            var commands = Walkthrough.Commands(Path.Combine(Repository.Root, "docs", "release-process.md"));
            Assert.Equal(["cut", "certify", "verify", "notes", "badge", "publish"], commands.Select(c => Walkthrough.Split(c)[2]));
            foreach (var command in commands)
            {
                outputs[Walkthrough.Split(command)[2]] = (await Walkthrough.RunAsync(command, repo, env)).Output;
            }

            var layout = new ReleaseLayout(repo);
            var version = StackVersion.Parse("0.1.0");
            Assert.Equal("0.1.0", File.ReadAllText(layout.VersionFile).Trim());

            // The manifest: valid against its schema, every component, signed, certified with the profile it ran on.
            var manifestJson = File.ReadAllText(layout.Manifest(version));
            var schema = JsonSchema.FromFile(Path.Combine(Repository.Root, "docs", "schemas", "release-manifest.schema.json"));
            var validation = schema.Evaluate(JsonDocument.Parse(manifestJson).RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
            Assert.True(validation.IsValid, string.Join("\n", (validation.Details ?? []).Where(d => d.Errors is not null).SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Value}"))));
            var manifest = ManifestJson.Deserialize(File.ReadAllBytes(layout.Manifest(version)));
            Assert.Equal(FacilityComponents.All.Select(c => c.Name), manifest.Components.Select(c => c.Name));
            var head = (await Processes.GitAsync(repo, Ct, "rev-parse", "HEAD")).Trim();
            Assert.Equal(head, manifest.SourceCommit);
            Assert.All(manifest.Components, c => Assert.Equal(head, c.Commit));
            Assert.All(manifest.Components, c => Assert.Equal("0.1.0", c.Version));
            Assert.Contains(manifest.Toolchain.Packages, p => p.StartsWith("ParquetSharp/", StringComparison.Ordinal));
            Assert.Equal(("infra", "0.1.0"), (manifest.Infra.Path, manifest.Infra.Version));
            Assert.Matches("^[0-9a-f]{64}$", manifest.Infra.Sha256);
            var certification = Assert.IsType<Certification>(manifest.Certification);
            Assert.Equal("local", certification.Target);
            Assert.Equal(Environment.ProcessorCount, certification.Profile.Cores);
            Assert.NotNull(certification.Limits);
            var notGates = certification.Checks.Where(c => c.Suite != "gates").ToList();
            Assert.True(notGates.All(c => c.Outcome == Outcome.Passed), string.Join("\n", notGates.Where(c => c.Outcome != Outcome.Passed).Select(c => $"{c.Suite}: {c.Name}: {c.Message}")));
            Assert.Contains(certification.Checks, c => c is { Suite: "end-to-end", Outcome: Outcome.Passed });
            Assert.Equal(certification.State == "certified" ? "certified" : "failed", certification.Summary.Certifies ? "certified" : "failed");
            Assert.True(File.Exists(Path.Combine(layout.Conformance(version), "junit.xml")));
            Assert.Contains(certification.State, File.ReadAllText(layout.Badge(version)), StringComparison.Ordinal);
            Assert.Contains("verified 0.1.0", outputs["verify"], StringComparison.Ordinal);
            Assert.Contains("# Coffea Shoppe 0.1.0", outputs["notes"], StringComparison.Ordinal);
            Assert.Single(Directory.GetFiles(layout.KeysFolder, "*.pem"));

            // The same release as containers: an image per artifact on a Debian runtime-deps image, through Testcontainers,
            // with the Docker engine this machine can run (eng/docker-engine.sh installs and starts it, registry-free).
            await CertifyInContainersAsync(repo, env, layout, version);

            // The dry run plans the release's creation and one upload per asset, and changes nothing.
            var planned = outputs["publish"].Split('\n').Where(l => l.StartsWith("would: POST", StringComparison.Ordinal)).ToList();
            Assert.Contains(planned, l => l.Contains("/repos/coffea-shoppe/coffea-shoppe/releases {tag_name: v0.1.0", StringComparison.Ordinal));
            foreach (var asset in new[] { "manifest.json", "manifest.sig", "release-notes.md", "badge.svg", "conformance-junit.xml" }
                         .Concat(manifest.Components.SelectMany(c => c.Artifacts).Select(a => a.File)))
            {
                Assert.Contains(planned, l => l.Contains($"?name={asset}&", StringComparison.Ordinal));
            }

            // One changed byte, in an artifact or in the manifest, is refused.
            var artifact = Path.Combine(layout.Artifacts(version), manifest.Components[1].Artifacts[0].File);
            await FlipAndVerifyAsync(artifact, 4096, repo, env);
            await FlipAndVerifyAsync(layout.Manifest(version), manifestJson.IndexOf("\"sha256\"", StringComparison.Ordinal) + 12, repo, env);
            Assert.Equal(0, (await Walkthrough.ShoppeAsync(["release", "verify", "0.1.0"], repo, env)).Code);

            // The tree is not clean now; once the release is committed, 0.1.0 cannot be cut again.
            var (dirtyCode, dirty) = await Walkthrough.ShoppeAsync(["release", "cut", "0.1.1"], repo, env);
            Assert.Equal(2, dirtyCode);
            Assert.Contains("not clean", dirty, StringComparison.Ordinal);
            await Processes.GitAsync(repo, Ct, "add", "-A");
            await Processes.GitAsync(repo, Ct, "commit", "-qm", "Release 0.1.0");
            var (againCode, again) = await Walkthrough.ShoppeAsync(["release", "cut", "0.1.0"], repo, env);
            Assert.Equal(2, againCode);
            Assert.Contains("0.1.0 is not above the last release, 0.1.0", again, StringComparison.Ordinal);
        }
        finally
        {
            await TestFolders.DeleteAsync(folder);
        }
    }

    private static async Task CertifyInContainersAsync(string repo, Dictionary<string, string> env, ReleaseLayout layout, StackVersion version)
    {
        // Without an engine, containers do not apply: refused with the reason, and the release keeps its certification.
        var before = await File.ReadAllBytesAsync(layout.Manifest(version), Ct);
        var noEngine = new Dictionary<string, string>(env) { ["DOCKER_HOST"] = "unix:///nonexistent/docker.sock" };
        var (refusedCode, refused) = await Walkthrough.ShoppeAsync(["release", "certify", version.ToString(), "--target", "containers"], repo, noEngine);
        Assert.Equal(2, refusedCode);
        Assert.Contains("nothing listens at unix:///nonexistent/docker.sock", refused, StringComparison.Ordinal);
        Assert.Equal(before, await File.ReadAllBytesAsync(layout.Manifest(version), Ct));

        var (code, output) = await Processes.RunAsync("bash", [Path.Combine(repo, "eng", "docker-engine.sh")], repo, Ct);
        Assert.True(code == 0, $"eng/docker-engine.sh failed:\n{output}");
        var started = output.Contains("# started dockerd", StringComparison.Ordinal);
        try
        {
            var exports = output.Split('\n').Last(l => l.StartsWith("export ", StringComparison.Ordinal))["export ".Length..];
            var withDocker = new Dictionary<string, string>(env);
            foreach (var pair in exports.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                withDocker[pair[..pair.IndexOf('=', StringComparison.Ordinal)]] = pair[(pair.IndexOf('=', StringComparison.Ordinal) + 1)..];
            }

            var (certifyCode, certifyOutput) = await Walkthrough.ShoppeAsync(["release", "certify", version.ToString(), "--target", "containers"], repo, withDocker);
            Assert.True(certifyCode is 0 or 1, certifyOutput);
            var certified = ManifestJson.Deserialize(File.ReadAllBytes(layout.Manifest(version)));
            var certification = certified.Certification!;
            Assert.Equal("containers", certification.Target);
            if (certifyCode == 1)
            {
                // A run that did not certify (a hardware gate on this VM can miss) pins no image and exports none.
                Assert.All(certified.Components, c => Assert.Null(c.ContainerImage));
                Assert.False(Directory.Exists(layout.Images(version)), "a run that did not certify exported its images");
            }
            else
            {
                Assert.All(certified.Components, c => Assert.Matches("^sha256:[0-9a-f]{64}$", c.ContainerImage!));

                // The images that ran are exported as the release's OCI layout, each at the digest the manifest signed,
                // and go to a site's registry (a real one on loopback) under exactly those digests.
                Assert.Equal(FacilityComponents.All.Select(c => c.Name).Order(), OciImages.Verify(certified, layout.Images(version)).Select(i => i.Component).Order());
                await using var registry = await RegistryPeer.StartAsync(Path.GetDirectoryName(repo)!, "registry", Ct);
                var site = $"127.0.0.1:{registry.Port}/coffea-shoppe";
                var (pushCode, pushOutput) = await Walkthrough.ShoppeAsync(["release", "images", "push", version.ToString(), "--registry", site, "--insecure"], repo, env);
                Assert.True(pushCode == 0, pushOutput);
                Assert.All(certified.Components, c => Assert.Contains($"{site}/{c.Name}@{c.ContainerImage}", pushOutput, StringComparison.Ordinal));
            }

            var notGates = certification.Checks.Where(c => c.Suite != "gates").ToList();
            Assert.True(notGates.Count > 20 && notGates.All(c => c.Outcome == Outcome.Passed),
                string.Join("\n", notGates.Where(c => c.Outcome != Outcome.Passed).Select(c => $"{c.Suite}: {c.Name}: {c.Message}")) + "\n" + certifyOutput);
        }
        finally
        {
            if (started)
            {
                await Processes.RunAsync("bash", [Path.Combine(repo, "eng", "docker-engine.sh"), "stop"], repo, CancellationToken.None);
            }
        }

        // Certified again on local processes, so the release's last certification is the default target's.
        Assert.True((await Walkthrough.ShoppeAsync(["release", "certify", version.ToString()], repo, env)).Code is 0 or 1);
    }

    private static async Task FlipAndVerifyAsync(string file, long offset, string repo, Dictionary<string, string> env)
    {
        var original = await File.ReadAllBytesAsync(file, Ct);
        var changed = (byte[])original.Clone();
        changed[offset] ^= 0x20;
        await File.WriteAllBytesAsync(file, changed, Ct);
        var (code, output) = await Walkthrough.ShoppeAsync(["release", "verify", "0.1.0"], repo, env);
        Assert.Equal(1, code);
        Assert.Contains("refused", output, StringComparison.Ordinal);
        await File.WriteAllBytesAsync(file, original, Ct);
    }

    [Fact]
    public async Task SiteCertification_AsTheDocSaysIt_WritesResultsAndTheSiteBadge()
    {
        var folder = Directory.CreateTempSubdirectory("shoppe-site-").FullName;
        try
        {
            await using var facility = LocalProcessEnvironment.FromBuild(Repository.Root, "Release", Path.Combine(folder, "facility"));
            await facility.StartAsync(new SyncProgress([]), Ct);

            // A large file in the site's storage for the cache gates, as a site admin would name one.
            var probe = Path.Combine(facility.OriginFolder!, "probe.bin");
            await using (var file = File.Create(probe))
            {
                var block = new byte[1 << 20];
                Random.Shared.NextBytes(block);
                for (var i = 0; i < 256; i++)
                {
                    await file.WriteAsync(block, Ct);
                }
            }

            var services = string.Join(' ', facility.Services.Where(s => s.Key != "portal").Select(s => $"--service {s.Key}={s.Value}"));
            var placeholders = new Dictionary<string, string>
            {
                ["https://shoppe.example.org"] = $"{facility.Services["portal"]} {services}",
                ["/data/probe-1GiB.bin"] = "/probe.bin",
            };
            var env = new Dictionary<string, string>
            {
                ["SHOPPE_TOKEN"] = facility.Token("site-admin", "storage.read:/conformance storage.create:/conformance storage.modify:/conformance"),
            };
            var command = Assert.Single(Walkthrough.Commands(Path.Combine(Repository.Root, "docs", "conformance.md")));
            var (code, output) = await Walkthrough.RunAsync(command, folder, env, placeholders);

            var results = Path.Combine(folder, "site-certification");
            var report = ConformanceReport.Read(Path.Combine(results, "summary.json"));
            Assert.Equal(facility.Services["portal"].GetLeftPart(UriPartial.Authority), report.Target);
            var notGates = report.Checks.Where(c => c.Suite != "gates").ToList();
            Assert.True(notGates.All(c => c.Outcome != Outcome.Failed), string.Join("\n", notGates.Where(c => c.Outcome == Outcome.Failed).Select(c => $"{c.Suite}: {c.Name}: {c.Message}")));
            Assert.Equal(["contract.transfer"], notGates.Where(c => c.Outcome == Outcome.NotApplicable).Select(c => c.Suite)); // one token: no narrower scope to try
            Assert.Contains(report.Checks, c => c is { Name: "cache.warm-read" } && c.Outcome != Outcome.NotApplicable);
            Assert.Contains(report.Checks, c => c is { Name: "transfer.pull", Outcome: Outcome.NotApplicable });
            Assert.Equal(report.Certifies ? 0 : 1, code);
            var badge = File.ReadAllText(Path.Combine(results, "badge.svg"));
            Assert.Contains("example-site · Coffea Shoppe " + File.ReadAllText(Path.Combine(Repository.Root, "VERSION")).Trim(), badge, StringComparison.Ordinal);
            Assert.Contains(report.Certifies ? "certified" : "failed", badge, StringComparison.Ordinal);
            Assert.Contains(report.Certifies ? "certified" : "not certified", output, StringComparison.Ordinal);
            Assert.True(File.Exists(Path.Combine(results, "junit.xml")));
        }
        finally
        {
            await TestFolders.DeleteAsync(folder);
        }
    }
}
