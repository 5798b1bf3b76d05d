using System.Net;
using Microsoft.Playwright;

namespace Shoppe.Portal.Tests;

/// <summary>Signing in and out with a local account, in Chromium; what is refused without a sign-in.</summary>
public sealed class SignInTests(PortalFacility portal)
{
    [Fact]
    public async Task WrongPassword_IsRefused_TheRightOneSignsIn_AndSignOutEndsIt()
    {
        await using var context = await portal.Browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = portal.Portal });
        var page = await context.NewPageAsync();

        // A page that needs a sign-in sends the browser to the form, and back again afterwards.
        await page.GotoAsync("/requests");
        Assert.StartsWith(portal.Portal + "/signin?returnUrl=%2Frequests", page.Url, StringComparison.Ordinal);

        // The stylesheet is served and applied (run from a build's output as from a published one).
        Assert.Equal("rgb(122, 74, 42)", await page.EvaluateAsync<string>("() => getComputedStyle(document.querySelector('header.top')).backgroundColor"));

        await page.GetByLabel("User name").FillAsync("alice");
        await page.GetByLabel("Password").FillAsync("not her password");
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Alert)).ToContainTextAsync("do not match");

        await page.GetByLabel("User name").FillAsync("alice");
        await page.GetByLabel("Password").FillAsync(PortalFacility.Password);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await page.WaitForURLAsync(portal.Portal + "/requests");
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "My requests" })).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("header .who")).ToContainTextAsync("alice");

        // The cookie: HttpOnly, SameSite=Lax, and it holds no readable token.
        var cookie = Assert.Single(await context.CookiesAsync(), c => c.Name == "shoppe-portal");
        Assert.True(cookie.HttpOnly);
        Assert.Equal(SameSiteAttribute.Lax, cookie.SameSite);
        Assert.DoesNotContain("eyJ", cookie.Value, StringComparison.Ordinal);

        await page.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
        await Assertions.Expect(page.Locator("header .who")).ToContainTextAsync("Sign in");
        await page.GotoAsync("/requests");
        Assert.StartsWith(portal.Portal + "/signin", page.Url, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WithoutASignIn_StreamsAndDownloadsAre401_AndFormsNeedTheirAntiforgeryToken()
    {
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = new Uri(portal.Portal) };
        using (var logs = new HttpRequestMessage(HttpMethod.Get, "/requests/delivery/abc/logs/live"))
        {
            logs.Headers.Accept.ParseAdd("text/event-stream");
            using var response = await http.SendAsync(logs, TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        using (var page = await http.GetAsync("/requests", TestContext.Current.CancellationToken))
        {
            Assert.Equal(HttpStatusCode.Redirect, page.StatusCode);
            Assert.Equal("/signin", page.Headers.Location!.AbsolutePath);
        }

        // A sign-in posted from elsewhere (no antiforgery token) is refused before any password is checked.
        using var forged = await http.PostAsync("/signin", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "signin",
            ["Input.Name"] = "alice",
            ["Input.Password"] = PortalFacility.Password,
        }), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.BadRequest, forged.StatusCode);
        Assert.DoesNotContain(forged.Headers, h => h.Key == "Set-Cookie" && h.Value.Any(v => v.StartsWith("shoppe-portal=", StringComparison.Ordinal)));

        using var signOut = await http.PostAsync("/signout", new FormUrlEncodedContent([]), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.BadRequest, signOut.StatusCode);
    }

    [Theory]
    [InlineData("/requests?page=2", "/requests?page=2")]
    [InlineData("https://evil.example/", "/")]
    [InlineData("//evil.example/", "/")]
    [InlineData("/\\evil.example/", "/")]
    [InlineData(null, "/")]
    public void ReturnUrl_StaysOnThisSite(string? returnUrl, string expected) =>
        Assert.Equal(expected, Apis.SignInApi.LocalPath(returnUrl));
}
