
namespace Shoppe.Release.Tests;

/// <summary>What a cut refuses, and that a refused cut leaves nothing behind.</summary>
public sealed class CutTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Cut_RefusesADirtyTreeAndABadVersion_BeforeBuildingAnything()
    {
        var folder = Directory.CreateTempSubdirectory("shoppe-cut-").FullName;
        try
        {
            var repo = await Walkthrough.CloneAsync(folder);
            var layout = new ReleaseLayout(repo);
            var cutter = new ReleaseCutter(layout, new SyncProgress([]));
            var key = Path.Combine(folder, "release.key");

            Assert.Contains("is not a version", (await Assert.ThrowsAsync<ReleaseException>(() => cutter.CutAsync("0.1", key, Ct))).Message, StringComparison.Ordinal);

            File.AppendAllText(Path.Combine(repo, "README.md"), "\nan unreleased edit\n");
            var dirty = await Assert.ThrowsAsync<ReleaseException>(() => cutter.CutAsync("0.2.0", key, Ct));
            Assert.Contains("not clean", dirty.Message, StringComparison.Ordinal);
            await Processes.GitAsync(repo, Ct, "checkout", "README.md");

            // A release 0.3.0 exists: 0.2.0 and 0.3.0 are not above it.
            Directory.CreateDirectory(Path.Combine(repo, "stack", "releases", "0.3.0"));
            File.WriteAllText(Path.Combine(repo, "stack", "releases", "0.3.0", "manifest.json"), "{}");
            await Processes.GitAsync(repo, Ct, "add", "-A");
            await Processes.GitAsync(repo, Ct, "commit", "-qm", "A release");
            foreach (var version in new[] { "0.2.0", "0.3.0", "0.3.0-rc.1" })
            {
                var refused = await Assert.ThrowsAsync<ReleaseException>(() => cutter.CutAsync(version, key, Ct));
                Assert.Contains($"{version} is not above the last release, 0.3.0", refused.Message, StringComparison.Ordinal);
            }

            Assert.Equal("0.1.0", File.ReadAllText(layout.VersionFile).Trim());
            Assert.Empty((await Processes.GitAsync(repo, Ct, "status", "--porcelain")).Trim());
        }
        finally
        {
            await TestFolders.DeleteAsync(folder);
        }
    }

    [Fact]
    public async Task Cut_RefusesAFailingBuild_AndLeavesVersionAndReleasesAsTheyWere()
    {
        var folder = Directory.CreateTempSubdirectory("shoppe-cut-").FullName;
        try
        {
            var repo = await Walkthrough.CloneAsync(folder);
            // The first project in the build breaks.
            var broken = Path.Combine(repo, "aspire", "Shoppe.ServiceDefaults", "Extensions.cs");
            File.AppendAllText(broken, "\nthis is not C#\n");
            await Processes.GitAsync(repo, Ct, "commit", "-qam", "A broken change");

            var layout = new ReleaseLayout(repo);
            var error = await Assert.ThrowsAsync<ReleaseException>(() => new ReleaseCutter(layout, new SyncProgress([])).CutAsync("0.2.0", Path.Combine(folder, "release.key"), Ct));
            Assert.Contains("The build fails; nothing was released", error.Message, StringComparison.Ordinal);
            Assert.Contains("Extensions.cs", error.Message, StringComparison.Ordinal);
            Assert.Equal("0.1.0", File.ReadAllText(layout.VersionFile).Trim());
            Assert.False(Directory.Exists(layout.Folder(StackVersion.Parse("0.2.0"))));
            Assert.Empty((await Processes.GitAsync(repo, Ct, "status", "--porcelain")).Trim());
        }
        finally
        {
            await TestFolders.DeleteAsync(folder);
        }
    }
}
