namespace Shoppe.Release.Tests;

/// <summary>The Pulumi program's digest as the manifest schema documents it, and its version against the last release.</summary>
public sealed class InfraProgramTests
{
    [Fact]
    public async Task Digest_IsTheDocumentedSha256sumListing_ComputedBySha256sumItself()
    {
        var program = InfraProgram.Read(Repository.Root);

        // docs/schemas/release-manifest.schema.json: SHA-256 of the sha256sum listing of the files, paths from the
        // repository root, sorted bytewise; here computed by coreutils, not by the code under test.
        var files = string.Join(' ', InfraProgram.Files(Repository.Root).Select(f => $"'{f}'"));
        var (code, output) = await Processes.RunAsync("bash", ["-c", $"printf '%s\\n' {files} | LC_ALL=C sort | xargs sha256sum | sha256sum"],
            Repository.Root, TestContext.Current.CancellationToken);

        Assert.Equal(0, code);
        Assert.Equal(output.Split(' ')[0], program.Sha256);
        Assert.Contains("infra/src/index.ts", InfraProgram.Files(Repository.Root));
        Assert.Contains("docs/schemas/site.schema.json", InfraProgram.Files(Repository.Root));
        Assert.DoesNotContain(InfraProgram.Files(Repository.Root), f => f.StartsWith("infra/test/", StringComparison.Ordinal) || f.StartsWith("infra/sites/", StringComparison.Ordinal));
    }

    [Fact]
    public void Program_ChangedSinceTheLastRelease_HasAnotherVersion()
    {
        var layout = new ReleaseLayout(Repository.Root);
        var released = layout.Released();
        Assert.NotEmpty(released); // 0.1.0 is committed
        var last = ManifestJson.Deserialize(File.ReadAllBytes(layout.Manifest(released[^1])));
        var program = InfraProgram.Read(Repository.Root);

        // A site deploys a release only with the program it was cut with (by digest); a version names one program.
        Assert.True(program.Sha256 == last.Infra.Sha256 || program.Version != last.Infra.Version,
            $"infra/ changed since {last.StackVersion} but keeps its version {program.Version}: bump infra/package.json's version.");
    }
}
