using System.Formats.Tar;
using System.IO.Compression;

namespace Shoppe.Release.Tests;

public sealed class ReleasePartsTests
{
    [Theory]
    [InlineData("0.1.0", "0.2.0")]
    [InlineData("0.9.0", "0.10.0")]
    [InlineData("1.0.0-rc.1", "1.0.0")]
    [InlineData("1.0.0-alpha", "1.0.0-alpha.1")]
    [InlineData("1.0.0-rc.2", "1.0.0-rc.10")]
    [InlineData("1.0.0-beta", "1.0.0-rc.1")]
    public void Versions_OrderAsSemanticVersioning(string lower, string higher)
    {
        Assert.True(StackVersion.Parse(lower) < StackVersion.Parse(higher));
        Assert.True(StackVersion.Parse(higher) > StackVersion.Parse(lower));
        Assert.Equal(higher, StackVersion.Parse(higher).ToString());
    }

    [Theory]
    [InlineData("1.0")]
    [InlineData("01.0.0")]
    [InlineData("1.0.0-")]
    [InlineData("v1.0.0")]
    [InlineData("1.0.0/../x")]
    [InlineData("")]
    public void Versions_RefuseWhatIsNotOne(string text) => Assert.False(StackVersion.TryParse(text, out _));

    [Theory]
    [InlineData("Cache: a block map's rename is made durable by syncing its folder", "Features")]
    [InlineData("Transfer, after review: a COPY's direction decides its scope", "Fixes")]
    [InlineData("Fix the retention of old records", "Fixes")]
    [InlineData("Transfer: copy buffers from the array pool (small-file pulls from 0.64 to 0.81 of XRootD's rate)", "Performance")]
    [InlineData("Columnar output: writing MET_pt went from 33 to 7 ms per 200k events", "Performance")]
    [InlineData("Docs: the transfer queue and shoppe transfer", "Other changes")]
    [InlineData("Tidy: one read-limit stream", "Other changes")]
    public void Notes_GroupCommitsBySubject(string subject, string group) => Assert.Equal(group, ReleaseNotes.Classify(subject));

    [Fact]
    public void Notes_ListTheFiguresThatChanged_UnderTheirSection()
    {
        const string before = "# Performance\n\n## Cache\n\n| case | ours |\n|---|---|\n| warm | 1.2 GB/s |\n| cold | 300 MB/s |\n";
        const string now = "# Performance\n\n## Cache\n\n| case | ours |\n|---|---|\n| warm | 1.9 GB/s |\n| cold | 300 MB/s |\n\n## Transfer\n\n| 1 GiB | 710 MiB/s |\n";
        var changed = ReleaseNotes.ChangedFigures(before, now);
        Assert.Equal([("Cache", "| warm | 1.9 GB/s |"), ("Transfer", "| 1 GiB | 710 MiB/s |")], changed);
        Assert.Equal(3, ReleaseNotes.ChangedFigures(null, now).Count); // a first release: every figure is new
    }

    [Fact]
    public void Notes_RenderGroupsComponentsAndFigures()
    {
        var components = new List<ReleaseComponent> { new("cache", "services/Cache/Shoppe.Cache/Shoppe.Cache.csproj", "0.2.0", new string('a', 40), [new ReleaseArtifact("shoppe-cache-0.2.0-linux-x64.tar.gz", 10, new string('b', 64))], null) };
        var commits = new List<CommitInfo> { new(new string('1', 40), "Cache: prefetch whole files"), new(new string('2', 40), "Fix the eviction race") };
        var text = ReleaseNotes.Render(StackVersion.Parse("0.2.0"), StackVersion.Parse("0.1.0"), new string('c', 40), DateTimeOffset.UnixEpoch, components, commits,
            [("Cache", "| warm | 1.9 GB/s |")]);
        Assert.Contains("# Coffea Shoppe 0.2.0", text, StringComparison.Ordinal);
        Assert.Contains("2 commits since 0.1.0", text, StringComparison.Ordinal);
        Assert.Contains("## Features\n\n- Cache: prefetch whole files (1111111)", text, StringComparison.Ordinal);
        Assert.Contains("## Fixes\n\n- Fix the eviction race (2222222)", text, StringComparison.Ordinal);
        Assert.Contains("### Cache\n\n| warm | 1.9 GB/s |", text, StringComparison.Ordinal);
        Assert.Contains("| cache | 0.2.0 | shoppe-cache-0.2.0-linux-x64.tar.gz |", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Tarball_IsTheSameBytesFromTheSameFiles_AndKeepsModes()
    {
        var folder = Directory.CreateTempSubdirectory("shoppe-tar-").FullName;
        try
        {
            var input = Directory.CreateDirectory(Path.Combine(folder, "in")).FullName;
            Directory.CreateDirectory(Path.Combine(input, "sub"));
            File.WriteAllText(Path.Combine(input, "b.txt"), "b");
            File.WriteAllText(Path.Combine(input, "sub", "a.dll"), "a");
            File.WriteAllText(Path.Combine(input, "app"), "#!/bin/sh\n");
            File.SetUnixFileMode(Path.Combine(input, "app"), (UnixFileMode)0b111_101_101);
            var date = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000);
            Tarball.Pack(input, "svc", Path.Combine(folder, "one.tar.gz"), date);
            // A file touched later must not show: its time is not the release's.
            File.SetLastWriteTimeUtc(Path.Combine(input, "b.txt"), DateTime.UtcNow.AddHours(1));
            Tarball.Pack(input, "svc", Path.Combine(folder, "two.tar.gz"), date);
            Assert.Equal(File.ReadAllBytes(Path.Combine(folder, "one.tar.gz")), File.ReadAllBytes(Path.Combine(folder, "two.tar.gz")));

            using (var reader = new TarReader(new GZipStream(File.OpenRead(Path.Combine(folder, "one.tar.gz")), CompressionMode.Decompress)))
            {
                var names = new List<string>();
                while (reader.GetNextEntry() is { } entry)
                {
                    names.Add(entry.Name);
                    Assert.Equal(date, entry.ModificationTime);
                    Assert.Equal(0, entry.Uid);
                }

                Assert.Equal(["svc/app", "svc/b.txt", "svc/sub/a.dll"], names);
            }

            Tarball.Unpack(Path.Combine(folder, "one.tar.gz"), Path.Combine(folder, "out"));
            Assert.Equal("a", File.ReadAllText(Path.Combine(folder, "out", "svc", "sub", "a.dll")));
            Assert.True(File.GetUnixFileMode(Path.Combine(folder, "out", "svc", "app")).HasFlag(UnixFileMode.UserExecute));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void Badge_SaysTheStateVersionDateAndProfile_AsValidSvg()
    {
        var svg = Badge.Render("Coffea Shoppe 0.1.0", certified: false, DateTimeOffset.Parse("2026-11-25T12:00:00Z", System.Globalization.CultureInfo.InvariantCulture),
            "2 cores, 23 GiB, vda rotational, no GPU", "30 passed, 2 failed, 1 n/a");
        var doc = System.Xml.Linq.XDocument.Parse(svg);
        var text = string.Join(" | ", doc.Descendants().Where(e => e.Name.LocalName == "text").Select(e => e.Value));
        Assert.Equal("Coffea Shoppe 0.1.0 | failed | 2026-11-25 · 2 cores, 23 GiB, vda rotational, no GPU · 30 passed, 2 failed, 1 n/a", text);
        Assert.Contains("#c62828", svg, StringComparison.Ordinal);
        Assert.Contains("&lt;x&gt;", Badge.Render("<x>", true, DateTimeOffset.UnixEpoch, "p", "d"), StringComparison.Ordinal);
    }
}
