using Microsoft.Playwright;
using Shoppe.Conformance;
using Shoppe.Testing;

namespace Shoppe.Portal.Tests;

/// <summary>
/// A facility whose users sign in through the site's OpenID Connect provider (a real one, <see cref="OidcProvider"/>):
/// the portal's sign-in takes them there and back, and calls the services with the provider's access token, which
/// the services take (the provider's keys, the facility's audience) beside the facility's own tokens.
/// </summary>
public sealed class OidcFacility : IAsyncLifetime
{
    public const string Password = "provider password";

    private readonly string _run = Directory.CreateTempSubdirectory("shoppe-portal-oidc-").FullName;

    public OidcProvider Provider { get; private set; } = null!;

    public LocalProcessEnvironment Facility { get; private set; } = null!;

    public string Portal => Facility.Services["portal"].ToString().TrimEnd('/');

    public async ValueTask InitializeAsync()
    {
        Provider = await OidcProvider.StartAsync(new Dictionary<string, (string, string[])>
        {
            ["alice"] = (Password, ["cms"]),
            ["olive"] = (Password, ["cms", "shoppe-operators"]),
        });
        // Every service takes the provider's tokens beside the facility's own, and its operators by group; the portal
        // signs in through the provider only.
        Facility = LocalProcessEnvironment.FromBuild(Repository.Root, "Release", Path.Combine(_run, "facility"), new Dictionary<string, string>
        {
            ["Shoppe__Security__Authority"] = Provider.Url,
            ["Shoppe__Security__RequireHttpsMetadata"] = "false",
            ["Shoppe__Security__OperatorGroup"] = "shoppe-operators",
            ["Portal__SignIn__Oidc__Authority"] = Provider.Url,
            ["Portal__SignIn__Oidc__ClientId"] = OidcProvider.ClientId,
            ["Portal__SignIn__Oidc__ClientSecret"] = Provider.ClientSecret,
            ["Portal__SignIn__Oidc__Scopes__0"] = "openid",
            ["Portal__SignIn__Oidc__Scopes__1"] = "profile",
            ["Portal__SignIn__Oidc__Scopes__2"] = "groups",
            ["Portal__SignIn__Oidc__OperatorGroup"] = "shoppe-operators",
            ["Portal__SignIn__Oidc__DisplayName"] = "the test provider",
            ["Portal__SignIn__Oidc__RequireHttps"] = "false",
        });
        await Facility.StartAsync(new Progress<string>(_ => { }), CancellationToken.None);
        await Provider.RegisterPortalAsync(Portal);
    }

    public async ValueTask DisposeAsync()
    {
        if (Facility is not null)
        {
            await Facility.DisposeAsync();
        }

        if (Provider is not null)
        {
            await Provider.DisposeAsync();
        }

        Directory.Delete(_run, recursive: true);
    }
}

/// <summary>Signing in through the site's provider, in Chromium: there and back, the services called with its token, operators by group, sign-out there too.</summary>
public sealed class OidcSignInTests(PortalFacility browsers, OidcFacility site) : IClassFixture<OidcFacility>
{
    private async Task<IPage> SignInAsync(IBrowserContext context, string user)
    {
        var page = await context.NewPageAsync();
        await page.GotoAsync(site.Portal + "/requests");
        await Assertions.Expect(page.GetByLabel("Password")).ToHaveCountAsync(0); // no local accounts on this site
        await page.GetByRole(AriaRole.Link, new() { Name = "Sign in with the test provider" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Test identity provider" })).ToBeVisibleAsync();
        await page.GetByLabel("Provider user").FillAsync(user);
        await page.GetByLabel("Provider password").FillAsync(OidcFacility.Password);
        await page.GetByRole(AriaRole.Button, new() { Name = "Continue" }).ClickAsync();
        await page.WaitForURLAsync(site.Portal + "/requests");
        return page;
    }

    [Fact]
    public async Task AUser_SignsInThroughTheProvider_AndSeesTheirRequests_AnOperatorEveryones()
    {
        // A delivery of alice's, submitted with a facility token (the CLI's kind): the portal finds it with the provider's.
        using var http = new HttpClient { BaseAddress = site.Facility.Services["delivery"] };
        http.DefaultRequestHeaders.Authorization = new("Bearer", site.Facility.Token("alice"));
        using var created = await http.PostAsync("v1/transforms", new StringContent("""{"dataset":"nanoaod-samples","columns":["MET_pt"]}""", System.Text.Encoding.UTF8, "application/json"), TestContext.Current.CancellationToken);
        created.EnsureSuccessStatusCode();
        var id = System.Text.Json.JsonDocument.Parse(await created.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).RootElement.GetProperty("requestId").GetString()!;

        await using var aliceContext = await browsers.Browser.NewContextAsync();
        var alice = await SignInAsync(aliceContext, "alice");
        await Assertions.Expect(alice.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync("My requests");
        await Assertions.Expect(alice.Locator("header .who")).Not.ToContainTextAsync("operator");
        await Assertions.Expect(alice.Locator($"tr[data-request='{id}']")).ToBeVisibleAsync();
        await Assertions.Expect(alice.Locator("p.warning")).ToHaveCountAsync(0);
        // The scopes asked for are the site's, each once (not the defaults with the site's appended).
        Assert.Equal("openid profile groups", site.Provider.LastAuthorizeScope);

        await using var oliveContext = await browsers.Browser.NewContextAsync();
        var olive = await SignInAsync(oliveContext, "olive");
        await Assertions.Expect(olive.Locator("header .who")).ToContainTextAsync("olive (operator)");
        await Assertions.Expect(olive.Locator($"tr[data-request='{id}']")).ToContainTextAsync("alice");

        // Signing out ends the provider's session too: the next sign-in asks for the password again.
        await alice.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
        await Assertions.Expect(alice.Locator("header .who")).ToContainTextAsync("Sign in", new() { Timeout = 30_000 });
        Assert.Equal(site.Portal + "/", alice.Url);
        await alice.GotoAsync(site.Portal + "/signin/provider");
        await Assertions.Expect(alice.GetByLabel("Provider password")).ToBeVisibleAsync();
    }
}
