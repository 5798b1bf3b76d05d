using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Playwright;
using Shoppe.Conformance;
using Shoppe.Portal.SignIn;
using Shoppe.Testing;

namespace Shoppe.Portal.Benchmarks;

/// <summary>The portal's pages as docs/portal.md shows them: a facility with a few finished deliveries, read in Chromium.</summary>
internal static class Screenshots
{
    private static readonly string[] Columns = ["MET_pt", "Muon_pt"];

    public static async Task TakeAsync(string folder)
    {
        Directory.CreateDirectory(folder);
        var run = Directory.CreateTempSubdirectory("shoppe-portal-shots-").FullName;
        try
        {
            // The release is looked for where the AppHost looks: the repository (stack/releases/<VERSION>/, verified with stack/keys/).
            await using var facility = LocalProcessEnvironment.FromBuild(Repository.Root, "Release", Path.Combine(run, "facility"),
                new Dictionary<string, string> { ["Portal__Release__Repository"] = Repository.Root });
            await facility.StartAsync(new Progress<string>(Console.WriteLine), CancellationToken.None);
            const string User = "physicist";
            var accounts = new LocalAccounts(Path.Combine(facility.DataFolder("portal"), "accounts.json"));
            var password = accounts.Set(User, isOperator: false);
            var operatorPassword = accounts.Set("operator", isOperator: true);

            using var delivery = new HttpClient { BaseAddress = facility.Services["delivery"] };
            delivery.DefaultRequestHeaders.Authorization = new("Bearer", facility.Token(User));
            string? id = null;
            foreach (var filter in new[] { "nMuon >= 2", "count(Jet_pt > 40) >= 2", "MET_pt > 20" })
            {
                using var created = await delivery.PostAsJsonAsync("v1/transforms", new { dataset = facility.Dataset, columns = Columns, filter, title = $"MET and muons, {filter}" });
                created.EnsureSuccessStatusCode();
                id = JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement.GetProperty("requestId").GetString();
            }

            using var playwright = await Playwright.CreateAsync();
            await using var browser = await LaunchChromiumAsync(playwright);
            var context = await browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = facility.Services["portal"].ToString().TrimEnd('/'), ViewportSize = new() { Width = 1200, Height = 800 } });
            var page = await context.NewPageAsync();
            await SignInAsync(page, User, password, () => Shot(page, folder, "signin"));
            await Shot(page, folder, "facility");

            // The newest delivery's page once it has ended and its lines have arrived.
            for (var tries = 0; tries < 60; tries++)
            {
                await page.GotoAsync($"/requests/delivery/{id}");
                if (await page.Locator("[data-field=state]").TextContentAsync() == "complete" && await page.Locator("table.log tbody tr").CountAsync() > 2)
                {
                    break;
                }

                await Task.Delay(1000);
            }

            await Shot(page, folder, "request");
            foreach (var (path, name) in new[] { ("/requests", "requests"), ("/release", "release"), ("/datasets", "datasets"), ("/tutorials", "tutorials") })
            {
                await page.GotoAsync(path);
                await Shot(page, folder, name);
            }

            // A report from the request's page, as an operator then reads it.
            await page.GotoAsync($"/requests/delivery/{id}");
            await page.GetByLabel(new System.Text.RegularExpressions.Regex("What went wrong")).FillAsync("Fewer dimuon events than I expected: is the muon filter applied before the pT cut?");
            await page.GetByRole(AriaRole.Button, new() { Name = "Send the report" }).ClickAsync();
            await page.Locator("#help [role=status]").WaitForAsync();
            var operatorContext = await browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = facility.Services["portal"].ToString().TrimEnd('/'), ViewportSize = new() { Width = 1200, Height = 800 } });
            var operatorPage = await operatorContext.NewPageAsync();
            await SignInAsync(operatorPage, "operator", operatorPassword, () => Task.CompletedTask);
            await operatorPage.GotoAsync("/reports");
            await operatorPage.Locator("article.report details").First.EvaluateAsync("d => d.open = true");
            await Shot(operatorPage, folder, "reports");
        }
        finally
        {
            Directory.Delete(run, recursive: true);
        }
    }

    /// <summary>Debian's Chromium, headless, kept off the network (../shared/recipes/browser-here.md's flags).</summary>
    public static Task<IBrowser> LaunchChromiumAsync(IPlaywright playwright) => playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
    {
        ExecutablePath = "/usr/bin/chromium",
        Headless = true,
        Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });

    /// <summary>Signs in through the portal's form; <paramref name="filled"/> runs once the name is in (a screenshot).</summary>
    public static async Task SignInAsync(IPage page, string user, string password, Func<Task>? filled = null)
    {
        await page.GotoAsync("/signin");
        await page.GetByLabel("User name").FillAsync(user);
        if (filled is not null)
        {
            await filled();
        }

        await page.GetByLabel("Password").FillAsync(password);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await page.WaitForURLAsync("**/");
    }

    private static async Task Shot(IPage page, string folder, string name)
    {
        var path = Path.Combine(folder, $"portal-{name}.png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = false });
        Console.WriteLine($"wrote {path}");
    }
}
