using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace Shoppe.Portal.Tests;

/// <summary>"Report a problem" on a request's page, in Chromium, against the running facility and GitHub's recorded answers.</summary>
public sealed partial class HelpTests(PortalFacility portal)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Report_IsKeptWithTheRequestsLastLines_FiledOnGitHub_AndShownToOperatorsOnly()
    {
        var id = await portal.DeliverAsync("alice", "nMuon >= 3", Ct);
        var alice = await portal.SignedInAsync("alice");
        await alice.GotoAsync($"/requests/delivery/{id}");
        await Assertions.Expect(alice.Locator("[data-field=state]")).ToHaveTextAsync("complete", new() { Timeout = 90_000 });
        await Assertions.Expect(alice.Locator("table.log")).ToContainTextAsync($"Transform {id} submitted", new() { Timeout = 30_000 });

        const string Words = "The muon counts look <b>wrong</b> to me: ```nMuon``` @octocat";
        await alice.GetByLabel(new Regex("What went wrong")).FillAsync(Words);
        await alice.GetByRole(AriaRole.Button, new() { Name = "Send the report" }).ClickAsync();

        await alice.WaitForURLAsync(ReportedUrl());
        await Assertions.Expect(alice.Locator("#help [role=status]")).ToContainTextAsync(new Regex("filed as http://127.0.0.1:[0-9]+/github.com/[a-z0-9]+/octokit-fixture-org/add-labels-to-issue/issues/1"));
        var mine = alice.Locator("table.reports tbody tr");
        await Assertions.Expect(mine).ToHaveCountAsync(1);
        await Assertions.Expect(mine).ToContainTextAsync(Words); // the words as text, never markup
        await Assertions.Expect(alice.Locator("table.reports b")).ToHaveCountAsync(0);

        // The operators' page has it, with the request's state and its last lines as they were; to a user it does not exist.
        var olive = await portal.SignedInAsync("olive");
        await olive.GotoAsync("/reports");
        var report = olive.Locator("article.report", new() { Has = olive.GetByRole(AriaRole.Link, new() { Name = $"delivery {id}" }) });
        await Assertions.Expect(report).ToContainTextAsync("by alice");
        await Assertions.Expect(report.Locator("blockquote")).ToHaveTextAsync(Words);
        await Assertions.Expect(report.GetByRole(AriaRole.Link, new() { Name = "filed as an issue" })).ToHaveAttributeAsync("href", new Regex("/octokit-fixture-org/add-labels-to-issue/issues/1$"));
        var attachment = await report.Locator("pre").TextContentAsync();
        Assert.StartsWith($"delivery {id}: complete", attachment, StringComparison.Ordinal);
        Assert.Contains($"Transform {id} submitted", attachment, StringComparison.Ordinal);

        var bob = await portal.SignedInAsync("bob");
        Assert.Equal(404, (await bob.GotoAsync("/reports"))!.Status);
    }

    [Fact]
    public async Task ReportForm_RefusesAnotherUsersRequest_EmptyWords_AndAFormWithoutItsToken()
    {
        var id = await portal.DeliverAsync("alice", "nMuon >= 4", Ct);

        // bob, with a valid form token of his own (from any page's sign-out form), on alice's request.
        var bob = await portal.SignedInAsync("bob");
        var token = await bob.Locator("input[name=__RequestVerificationToken]").First.GetAttributeAsync("value");
        var stolen = await bob.APIRequest.PostAsync($"/requests/delivery/{id}/report", new() { Form = Form(bob, token, "let me in") });
        Assert.Equal(404, stolen.Status);
        Assert.Equal("application/problem+json", stolen.Headers["content-type"]);
        // Nor may he wait on its live lines (the stream waits only for the reader's own requests' first lines).
        Assert.Equal(404, (await bob.APIRequest.GetAsync($"/requests/delivery/{id}/logs/live")).Status);

        var alice = await portal.SignedInAsync("alice");
        var own = await alice.Locator("input[name=__RequestVerificationToken]").First.GetAttributeAsync("value");
        var empty = await alice.APIRequest.PostAsync($"/requests/delivery/{id}/report", new() { Form = Form(alice, own, "   ") });
        Assert.Equal(400, empty.Status);
        Assert.Contains("no words", await empty.TextAsync(), StringComparison.Ordinal);
        var tooLong = await alice.APIRequest.PostAsync($"/requests/delivery/{id}/report", new() { Form = Form(alice, own, new string('x', 4_001)) });
        Assert.Equal(400, tooLong.Status);
        var forged = await alice.APIRequest.PostAsync($"/requests/delivery/{id}/report", new() { Form = Form(alice, null, "from another site") });
        Assert.Equal(400, forged.Status);
        Assert.Contains("antiforgery", await forged.TextAsync(), StringComparison.Ordinal);

        // None of them was kept.
        await alice.GotoAsync($"/requests/delivery/{id}");
        await Assertions.Expect(alice.Locator("table.reports")).ToHaveCountAsync(0);
    }

    private static IFormData Form(IPage page, string? token, string words)
    {
        var form = page.APIRequest.CreateFormData();
        if (token is not null)
        {
            form.Set("__RequestVerificationToken", token);
        }

        return form.Set("words", words);
    }

    [GeneratedRegex(@"reported=\d+")]
    private static partial Regex ReportedUrl();
}
