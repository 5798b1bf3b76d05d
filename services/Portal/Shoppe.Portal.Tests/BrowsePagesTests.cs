using Microsoft.Playwright;

namespace Shoppe.Portal.Tests;

/// <summary>The datasets and tutorials pages, in Chromium.</summary>
public sealed class BrowsePagesTests(PortalFacility portal)
{
    [Fact]
    public async Task Datasets_ListTheNamedDatasets_WithTheirFiles()
    {
        var page = await portal.SignedInAsync("alice");
        await page.GetByRole(AriaRole.Link, new() { Name = "datasets" }).ClickAsync();
        var row = page.Locator("tr[data-dataset='nanoaod-samples']");
        await Assertions.Expect(row).ToContainTextAsync("80"); // the two samples: 40 + 40 events
        await row.GetByRole(AriaRole.Link).ClickAsync();
        await Assertions.Expect(page.Locator("table.files tbody tr")).ToHaveCountAsync(2);
        await Assertions.Expect(page.Locator("table.files")).ToContainTextAsync("nano_dy.parquet");

        var missing = await page.GotoAsync("/datasets/no-such-dataset");
        Assert.Equal(404, missing!.Status);
    }

    [Fact]
    public async Task Tutorials_AreTheExecutedWalkThroughs_AndNothingElse()
    {
        await using var context = await portal.Browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = portal.Portal });
        var page = await context.NewPageAsync();
        await page.GotoAsync("/tutorials");
        await page.GetByRole(AriaRole.Link, new() { Name = "Scanning beside the data, and joining column sets" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync("Scanning beside the data, and joining column sets");
        await Assertions.Expect(page.Locator("article.tutorial pre").First).ToBeVisibleAsync();

        // Only the walk-throughs by name: no path is ever opened from what a reader sends.
        foreach (var path in new[] { "/tutorials/..%2F..%2FVERSION", "/tutorials/README", "/tutorials/pushdown-scan.md" })
        {
            var response = await page.GotoAsync(path);
            Assert.Equal(404, response!.Status);
        }
    }

    [Fact]
    public async Task FacilityPage_ShowsAnOperatorEachServicesFigures_AndAUserNone()
    {
        var olive = await portal.SignedInAsync("olive");
        var cache = olive.Locator("details[data-figures='cache']");
        await Assertions.Expect(cache.Locator("tr[data-figure='http.server.request.duration']")).ToHaveCountAsync(1);
        await Assertions.Expect(cache.Locator("tr[data-figure='shoppe.cache.bytes']")).ToHaveCountAsync(1);
        await Assertions.Expect(olive.Locator("details[data-figures]")).ToHaveCountAsync(7); // six services and the portal
        await Assertions.Expect(olive.Locator("section.figures p.warning")).ToHaveCountAsync(0);

        var alice = await portal.SignedInAsync("alice");
        await Assertions.Expect(alice.Locator("table.services")).ToBeVisibleAsync();
        await Assertions.Expect(alice.Locator("section.figures")).ToHaveCountAsync(0);
    }

    [Fact]
    public async Task Pages_LinkTheirStylesheetAndScript_ByNamesABrowserKeepsForAYear()
    {
        await using var context = await portal.Browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = portal.Portal });
        var page = await context.NewPageAsync();
        var assets = new List<IResponse>();
        page.Response += (_, response) =>
        {
            if (response.Request.ResourceType is "stylesheet" or "script")
            {
                assets.Add(response);
            }
        };
        await page.GotoAsync("/tutorials");
        await page.WaitForLoadStateAsync(LoadState.Load);

        // The portal runs from its build here: the build's assets were served "no-cache" (each page load fetched the
        // stylesheet again before painting) until the portal took the manifest's own headers in every environment.
        Assert.Equal(2, assets.Count);
        foreach (var asset in assets)
        {
            Assert.Matches(@"/(app|live)\.[a-z0-9]+\.(css|js)$", asset.Url);
            Assert.Equal("max-age=31536000, immutable", (await asset.AllHeadersAsync())["cache-control"]);
        }

        // The plain names stay revalidated: they are not fingerprinted.
        var plain = await context.APIRequest.GetAsync("/app.css");
        Assert.Equal("no-cache", plain.Headers["cache-control"]);
    }
}
