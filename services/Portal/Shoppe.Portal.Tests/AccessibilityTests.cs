using Deque.AxeCore.Playwright;
using Microsoft.Playwright;

namespace Shoppe.Portal.Tests;

/// <summary>axe-core (Deque's rules, run in Chromium) on every page: no serious or critical violation.</summary>
public sealed class AccessibilityTests(PortalFacility portal)
{
    [Fact]
    public async Task EveryPage_HasNoSeriousOrCriticalViolation()
    {
        var id = await portal.DeliverAsync("alice", "nMuon >= 1", TestContext.Current.CancellationToken);
        await using var anonymous = await portal.Browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = portal.Portal });
        var signIn = await anonymous.NewPageAsync();
        var found = new List<string>();
        foreach (var path in new[] { "/signin", "/release", "/tutorials", "/tutorials/pushdown-scan" })
        {
            await signIn.GotoAsync(path);
            await CheckAsync(signIn, found);
        }

        var page = await portal.SignedInAsync("alice");
        foreach (var path in new[] { "/", "/requests", "/requests?kind=delivery&state=complete", $"/requests/delivery/{id}", "/requests/delivery/01nosuchrequest", "/datasets", "/datasets/nanoaod-samples" })
        {
            await page.GotoAsync(path);
            await CheckAsync(page, found);
        }

        var olive = await portal.SignedInAsync("olive");
        foreach (var path in new[] { "/", "/requests", "/reports", $"/requests/delivery/{id}" })
        {
            await olive.GotoAsync(path);
            await CheckAsync(olive, found);
        }

        Assert.True(found.Count == 0, string.Join("\n", found));
    }

    private static async Task CheckAsync(IPage page, List<string> found)
    {
        var results = await page.RunAxe();
        foreach (var violation in results.Violations.Where(v => v.Impact is "serious" or "critical"))
        {
            found.Add($"{page.Url}: {violation.Impact} {violation.Id}: {violation.Help} ({string.Join(", ", violation.Nodes.Take(3).Select(n => string.Join(" ", n.Target)))})");
        }
    }
}
