using System.Net.Http.Json;
using Microsoft.Playwright;
using Shoppe.Conformance;
using Shoppe.Release;

namespace Shoppe.Portal.Tests;

/// <summary>The release the facility runs on its pages: the signed manifest against each service, certification, badge and notes.</summary>
public sealed class ReleasePagesTests(PortalFacility portal)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task FacilityPage_ShowsTheVerifiedRelease_ItsCertificationAndBadge_AndRefusesATamperedManifest()
    {
        await using var context = await portal.Browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = portal.Portal });
        var page = await context.NewPageAsync();
        await page.GotoAsync("/");
        await Assertions.Expect(page.Locator("section.release")).ToContainTextAsync("No release 0.1.0 has been cut");

        var (layout, keyId) = await CutAsync();
        await page.GotoAsync("/");
        var release = page.Locator("section.release");
        await Assertions.Expect(release).ToContainTextAsync($"This facility runs release 0.1.0, signed with key {keyId}");
        await Assertions.Expect(release.Locator("[data-field=certification]")).ToHaveTextAsync("certified");
        await Assertions.Expect(release).ToContainTextAsync("2 passed, 0 failed, 1 n/a");
        Assert.True(await page.Locator("section.release img.badge").EvaluateAsync<int>("img => img.naturalWidth") > 0, "the badge did not load");
        // Every service runs the version the release names.
        await Assertions.Expect(page.Locator("table.services tbody tr")).ToHaveCountAsync(6);
        await Assertions.Expect(page.Locator("table.services td.mismatch")).ToHaveCountAsync(0);

        await page.GetByRole(AriaRole.Link, new() { Name = "0.1.0", Exact = true }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync("Release 0.1.0");
        await Assertions.Expect(page.Locator("[data-field=profile]")).ToHaveTextAsync(Profile.Describe());
        await Assertions.Expect(page.Locator("tr[data-check='gates.cache.read-throughput']")).ToContainTextAsync("2.5");
        await Assertions.Expect(page.Locator("section.notes h4")).ToHaveTextAsync("Features"); // under the page's own headings
        await Assertions.Expect(page.Locator("section.notes script")).ToHaveCountAsync(0); // raw HTML in notes is text
        var badge = await page.APIRequest.GetAsync("/release/badge.svg");
        Assert.Equal("image/svg+xml", badge.Headers["content-type"]);

        // One changed byte after signing: nothing of the release is shown as trusted, and there is no badge.
        var manifest = layout.Manifest(StackVersion.Parse("0.1.0"));
        var bytes = await File.ReadAllBytesAsync(manifest, Ct);
        await File.WriteAllTextAsync(manifest, System.Text.Encoding.UTF8.GetString(bytes).Replace("\"certified\"", "\"certifiee\"", StringComparison.Ordinal), Ct);
        try
        {
            await page.GotoAsync("/");
            await Assertions.Expect(page.Locator("section.release")).ToContainTextAsync("The manifest of 0.1.0 is not trusted");
            Assert.Equal(404, (await page.APIRequest.GetAsync("/release/badge.svg")).Status);
        }
        finally
        {
            await File.WriteAllBytesAsync(manifest, bytes, Ct);
        }
    }

    private static readonly HardwareProfile Profile = HardwareProfile.Detect(Path.GetTempPath());

    /// <summary>A release 0.1.0 of what runs, signed with a key of the test's own that the layout trusts, certified, with notes and badge.</summary>
    private async Task<(ReleaseLayout Layout, string KeyId)> CutAsync()
    {
        var layout = new ReleaseLayout(portal.ReleaseRepository);
        var version = StackVersion.Parse("0.1.0");
        Directory.CreateDirectory(layout.Folder(version));
        var components = new List<ReleaseComponent>();
        using var http = new HttpClient();
        foreach (var (name, url) in portal.Facility.Services.Where(s => s.Key != "portal"))
        {
            var info = await http.GetFromJsonAsync<System.Text.Json.JsonElement>(new Uri(url, "version"), Ct);
            var running = info.GetProperty("version").GetString()!.Split('+')[0];
            components.Add(new ReleaseComponent(name, $"services/{name}", running, new string('a', 40), [new ReleaseArtifact($"{name}.tar.gz", 1, new string('0', 64))], null));
        }

        var checks = new List<CheckResult>
        {
            new("contract", "delivery.health", Outcome.Passed, null, 0.2),
            new("gates", "cache.read-throughput", Outcome.Passed, null, 3.1, Measured: 900, Limit: 360, Ratio: 2.5, Threshold: 0.8),
            new("gates", "gpu.columnar", Outcome.NotApplicable, "no GPU on this machine", 0),
        };
        using var key = ReleaseSigning.LoadOrCreatePrivateKey(Path.Combine(portal.ReleaseRepository, "release.key"), out _, out _);
        ReleaseSigning.PublishPublicKey(key, layout.KeysFolder);
        var manifest = new ReleaseManifest
        {
            StackVersion = "0.1.0",
            SourceCommit = new string('a', 40),
            CreatedAt = DateTimeOffset.UtcNow,
            Components = components,
            Toolchain = new Toolchain("10.0.100", new string('1', 64), new string('2', 64), []),
            Build = new BuildSettings("Release", "linux-x64", false, true, true, 0),
            Infra = new InfraProgram("infra", "0.1.0", new string('4', 64)),
            Signing = new SigningInfo("ECDSA-P256-SHA256", ReleaseSigning.KeyId(key)),
            Certification = new Certification("certified", DateTimeOffset.UtcNow, "local", Profile, null, ResultSummary.Of(checks), checks, 1, new string('3', 64)),
        };
        ReleaseSigning.WriteSigned(layout.Manifest(version), ManifestJson.Serialize(manifest), key);
        await File.WriteAllTextAsync(layout.Notes(version), "# Coffea Shoppe 0.1.0\n\n## Features\n\n- The portal <script>alert(1)</script> shows the release.\n", Ct);
        await File.WriteAllTextAsync(layout.Badge(version), Badge.Render("Coffea Shoppe 0.1.0", true, DateTimeOffset.UtcNow, Profile.Describe(), "2 passed, 0 failed, 1 n/a"), Ct);
        return (layout, ReleaseSigning.KeyId(key));
    }
}
