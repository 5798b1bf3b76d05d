using System.Net.Http.Json;
using Microsoft.Playwright;
using Shoppe.Conformance;
using Shoppe.Portal.SignIn;
using Shoppe.Testing;

[assembly: AssemblyFixture(typeof(Shoppe.Portal.Tests.PortalFacility))]

namespace Shoppe.Portal.Tests;

/// <summary>
/// The whole facility as processes from this build (the conformance suite's local environment: every service on
/// 127.0.0.1, logs exported to the logs service, delivery reading the NanoAOD samples through the cache), its portal
/// with local accounts for alice (a user), bob (another) and olive (an operator), and Debian's Chromium driven by
/// Playwright (../shared/recipes/browser-here.md: never a downloaded browser).
/// </summary>
public sealed class PortalFacility : IAsyncLifetime
{
    /// <summary>The password every test account has.</summary>
    public const string Password = "correct horse battery staple";

    private readonly string _run = Directory.CreateTempSubdirectory("shoppe-portal-").FullName;
    private LocalProcessEnvironment? _facility;
    private IPlaywright? _playwright;
    private readonly GitHubReplay _github = new();

    public LocalProcessEnvironment Facility => _facility ?? throw new InvalidOperationException("not started");

    public IBrowser Browser { get; private set; } = null!;

    /// <summary>The portal's base URL (no trailing slash).</summary>
    public string Portal => Facility.Services["portal"].ToString().TrimEnd('/');

    /// <summary>Where the portal looks for the release it runs (stack/releases, stack/keys): empty until a test cuts one.</summary>
    public string ReleaseRepository => Path.Combine(_run, "release-repository");

    /// <summary>The portal's local accounts (the real file its sign-in reads).</summary>
    public LocalAccounts Accounts => new(Path.Combine(Facility.DataFolder("portal"), "accounts.json"));

    public async ValueTask InitializeAsync()
    {
        // Problem reports are filed in a GitHub repository: GitHub's recorded answers (one report's worth).
        await _github.InitializeAsync();
        var token = Path.Combine(_run, "github-token");
        await File.WriteAllTextAsync(token, GitHubIssuesTests.RecordedToken);
        _facility = LocalProcessEnvironment.FromBuild(Repository.Root, "Release", Path.Combine(_run, "facility"), new Dictionary<string, string>
        {
            ["Portal__Help__GitHub__Repository"] = "octokit-fixture-org/add-labels-to-issue",
            ["Portal__Help__GitHub__TokenFile"] = token,
            ["Portal__Help__GitHub__ApiUrl"] = (await _github.ScenarioAsync("report-issue")).ToString(),
            ["Portal__Help__GitHub__Labels__0"] = "facility-report",
            ["Portal__Release__Repository"] = ReleaseRepository,
        });
        await _facility.StartAsync(new Progress<string>(_ => { }), CancellationToken.None);
        Accounts.Set("alice", isOperator: false, Password);
        Accounts.Set("bob", isOperator: false, Password);
        Accounts.Set("olive", isOperator: true, Password);
        _playwright = await Microsoft.Playwright.Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
    }

    public async ValueTask DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.DisposeAsync();
        }

        _playwright?.Dispose();
        if (_facility is not null)
        {
            await _facility.DisposeAsync();
        }

        await _github.DisposeAsync();
        Directory.Delete(_run, recursive: true);
    }

    /// <summary>A fresh browser context (its own cookies) signed in as <paramref name="user"/> through the sign-in form.</summary>
    public async Task<IPage> SignedInAsync(string user, bool javaScript = true)
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = Portal, JavaScriptEnabled = javaScript });
        var page = await context.NewPageAsync();
        await page.GotoAsync("/signin");
        await page.GetByLabel("User name").FillAsync(user);
        await page.GetByLabel("Password").FillAsync(Password);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await page.WaitForURLAsync(Portal + "/");
        return page;
    }

    /// <summary>Submits a delivery of the samples as <paramref name="user"/> (the service's API, the user's token); its request id.</summary>
    public async Task<string> DeliverAsync(string user, string filter, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { BaseAddress = Facility.Services["delivery"] };
        http.DefaultRequestHeaders.Authorization = new("Bearer", Facility.Token(user));
        using var created = await http.PostAsJsonAsync("v1/transforms", new { dataset = Facility.Dataset, columns = new[] { "MET_pt", "nMuon" }, filter }, cancellationToken);
        created.EnsureSuccessStatusCode();
        using var body = await created.Content.ReadFromJsonAsync<System.Text.Json.JsonDocument>(cancellationToken);
        return body!.RootElement.GetProperty("requestId").GetString()!;
    }
}
