using System.Diagnostics;
using Microsoft.Playwright;
using Shoppe.Testing;

namespace Shoppe.Portal.Tests;

/// <summary>My requests and a request's page, in Chromium, against the running facility: progress, outputs, logs, another user.</summary>
public sealed class RequestPagesTests(PortalFacility portal)
{
    [Fact]
    public async Task MyDelivery_IsListed_ItsPageShowsProgressOutputsAndLogs_AndOthersCannotSeeIt()
    {
        var id = await portal.DeliverAsync("alice", "nMuon >= 2", TestContext.Current.CancellationToken);

        var alice = await portal.SignedInAsync("alice");
        await alice.GotoAsync("/requests");
        var row = alice.Locator($"tr[data-request='{id}']");
        await Assertions.Expect(row).ToContainTextAsync("delivery");
        await Assertions.Expect(row).ToContainTextAsync("MET_pt, nMuon");

        // The request's page shows it to its end and its lines without a reload (live over SSE when they come after the
        // page was served, which depends on how fast the delivery ends and the services export); then its outputs.
        await row.GetByRole(AriaRole.Link, new() { Name = id }).ClickAsync();
        await Assertions.Expect(alice.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToContainTextAsync(id);
        await Assertions.Expect(alice.Locator("[data-field=state]")).ToHaveTextAsync("complete", new() { Timeout = 90_000 });
        await Assertions.Expect(alice.Locator("table.log")).ToContainTextAsync($"Transform {id} submitted", new() { Timeout = 30_000 });

        await alice.ReloadAsync();
        await Assertions.Expect(alice.Locator("table.outputs a[download]").First).ToBeVisibleAsync();
        var download = await alice.RunAndWaitForDownloadAsync(() => alice.Locator("table.outputs a[download]").First.ClickAsync());
        Assert.True(new FileInfo(await download.PathAsync()).Length > 0);

        // bob sees neither the row nor the page (a 404, the same as a request that does not exist).
        var bob = await portal.SignedInAsync("bob");
        await bob.GotoAsync("/requests");
        await Assertions.Expect(bob.Locator($"tr[data-request='{id}']")).ToHaveCountAsync(0);
        var other = await bob.GotoAsync($"/requests/delivery/{id}");
        Assert.Equal(404, other!.Status);
        await Assertions.Expect(bob.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync("Not found");
        var stolen = await bob.GotoAsync($"/requests/delivery/{id}/files/0");
        Assert.Equal(403, stolen!.Status);

        // olive, an operator, sees everyone's, with their owners.
        var olive = await portal.SignedInAsync("olive");
        await olive.GotoAsync("/requests");
        await Assertions.Expect(olive.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync("Everyone's requests");
        await Assertions.Expect(olive.Locator($"tr[data-request='{id}']")).ToContainTextAsync("alice");
    }

    [Fact]
    public async Task DeliveryFromTheCli_AppearsInMyRequests_AndItsPageFollowsItToItsLogs()
    {
        var alice = await portal.SignedInAsync("alice");
        await alice.GotoAsync("/requests");
        var title = $"from the CLI {Guid.NewGuid():N}";

        // The user's own command, as a process from its build output, with alice's token; it waits for the end with progress.
        var cli = new ProcessStartInfo("dotnet", [Path.Combine(Repository.Root, "stack", "Shoppe.Cli", "bin", "Release", "net10.0", "shoppe.dll"),
            "deliver", "--dataset", portal.Facility.Dataset, "--columns", "MET_pt", "nMuon", "--filter", "nMuon >= 2", "--title", title,
            "--url", portal.Facility.Services["delivery"].ToString()])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment = { ["SHOPPE_TOKEN"] = portal.Facility.Token("alice"), ["NO_COLOR"] = "1" },
        };
        using var process = Process.Start(cli)!;
        var printed = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var errors = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);

        // It appears in my requests (a reload, as a reader would), and its page follows it to its end and its lines.
        var row = alice.Locator("tr[data-request]", new() { HasText = title });
        for (var tries = 0; tries < 60 && await row.CountAsync() == 0; tries++)
        {
            await Task.Delay(500, TestContext.Current.CancellationToken);
            await alice.ReloadAsync();
        }

        var id = await row.GetAttributeAsync("data-request");
        await row.GetByRole(AriaRole.Link, new() { Name = id! }).ClickAsync();
        await Assertions.Expect(alice.Locator("[data-field=state]")).ToHaveTextAsync("complete", new() { Timeout = 90_000 });
        await Assertions.Expect(alice.Locator("table.log")).ToContainTextAsync($"Transform {id} submitted", new() { Timeout = 30_000 });
        await Assertions.Expect(alice.Locator("table.log")).ToContainTextAsync($"Transform {id} complete", new() { Timeout = 30_000 });

        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        Assert.True(process.ExitCode == 0, await printed + await errors);
        Assert.Contains(id!, await printed, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MyScan_IsListedWithItsCounts_AndItsPageShowsItsOutcome()
    {
        using var http = new HttpClient { BaseAddress = portal.Facility.Services["pushdown"] };
        http.DefaultRequestHeaders.Authorization = new("Bearer", portal.Facility.Token("alice"));
        var id = $"portal-scan-{Guid.NewGuid():N}";
        http.DefaultRequestHeaders.Add("X-Shoppe-Request-Id", id);
        using (var reader = await new Shoppe.Pushdown.Client.PushdownClient(http).ScanAsync(
            Shoppe.Pushdown.Client.ScanRequest.Of(portal.Facility.Dataset, ["MET_pt"], "nMuon >= 2"), TestContext.Current.CancellationToken))
        {
            while (await reader.ReadNextAsync(TestContext.Current.CancellationToken) is { } batch)
            {
                batch.Dispose();
            }
        }

        var alice = await portal.SignedInAsync("alice");
        await alice.GotoAsync("/requests?kind=scan");
        var row = alice.Locator($"tr[data-request='{id}']");
        await Assertions.Expect(row).ToContainTextAsync($"scan of {portal.Facility.Dataset}");
        await Assertions.Expect(row).ToContainTextAsync("of 80 events passed");
        await row.GetByRole(AriaRole.Link, new() { Name = id }).ClickAsync();
        await Assertions.Expect(alice.Locator("[data-field=state]")).ToHaveTextAsync("finished");
        await Assertions.Expect(alice.Locator("dl.parameters")).ToContainTextAsync("eventsScanned");

        var bob = await portal.SignedInAsync("bob");
        await bob.GotoAsync("/requests?kind=scan");
        await Assertions.Expect(bob.Locator($"tr[data-request='{id}']")).ToHaveCountAsync(0);
        Assert.Equal(404, (await bob.GotoAsync($"/requests/scan/{id}"))!.Status);
    }

    [Fact]
    public async Task WithoutJavaScript_EveryPageWorks()
    {
        var id = await portal.DeliverAsync("alice", "nMuon >= 1", TestContext.Current.CancellationToken);
        var page = await portal.SignedInAsync("alice", javaScript: false);
        await Assertions.Expect(page.Locator("table.services")).ToBeVisibleAsync();

        // Wait for the delivery to end and its lines to arrive by reloading, as a reader without scripts would.
        for (var tries = 0; tries < 90; tries++)
        {
            await page.GotoAsync($"/requests/delivery/{id}");
            if (await page.Locator("[data-field=state]").TextContentAsync() == "complete" && await page.Locator("table.log tbody tr").CountAsync() > 0)
            {
                break;
            }

            await Task.Delay(1000, TestContext.Current.CancellationToken);
        }

        await Assertions.Expect(page.Locator("[data-field=state]")).ToHaveTextAsync("complete");
        await Assertions.Expect(page.Locator("p.warning")).ToHaveCountAsync(0);
        await Assertions.Expect(page.Locator("table.log")).ToContainTextAsync($"Transform {id} submitted");

        // The filters are plain forms: only warnings and above, then a text search.
        await page.GetByLabel("Level at least").SelectOptionAsync("error");
        await page.GetByRole(AriaRole.Button, new() { Name = "Filter" }).ClickAsync();
        Assert.Contains("level=error", page.Url, StringComparison.Ordinal);
        await Assertions.Expect(page.Locator("table.log tbody tr")).ToHaveCountAsync(0);

        await page.GotoAsync("/requests?kind=delivery");
        await Assertions.Expect(page.Locator($"tr[data-request='{id}']")).ToBeVisibleAsync();
        await page.GotoAsync("/requests?kind=transfer");
        await Assertions.Expect(page.Locator($"tr[data-request='{id}']")).ToHaveCountAsync(0);
    }
}
