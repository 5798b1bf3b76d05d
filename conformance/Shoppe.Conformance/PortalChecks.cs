using System.Net;

namespace Shoppe.Conformance;

/// <summary>The portal's checks: its pages as a browser without a session sees them, and the release's page and badge.</summary>
public sealed partial class ConformanceSuite
{
    /// <summary>The facility page shows every other service healthy (and the release under certification, when there is one).</summary>
    private async Task<string?> PortalAsync(CancellationToken cancellationToken)
    {
        using var response = await SendAsync(Request(HttpMethod.Get, "portal", "/", null), cancellationToken);
        var html = await response.Content.ReadAsStringAsync(cancellationToken);
        Require(response.StatusCode == HttpStatusCode.OK, $"answered {(int)response.StatusCode}");
        foreach (var service in FacilityComponents.Services.Where(s => s.Name != "portal"))
        {
            Require(html.Contains($"data-service=\"{service.Name}\" data-state=\"healthy\"", StringComparison.Ordinal), $"the page does not show {service.Name} healthy");
        }

        if (expected is not null)
        {
            Require(html.Contains($"release {expected.StackVersion}", StringComparison.Ordinal), $"the page does not show release {expected.StackVersion}");
        }

        return null;
    }

    /// <summary>
    /// The pages anyone may read answer with their content; the sign-in form carries an antiforgery token; a user's pages
    /// send a reader without a session to sign in, and their live streams and forms answer 401 or 400, never content.
    /// </summary>
    private async Task<string?> PortalPagesAsync(CancellationToken cancellationToken)
    {
        foreach (var (path, content) in new[] { ("/signin", "__RequestVerificationToken"), ("/tutorials", "<h1>Tutorials</h1>"), ("/release", "<h1>Release ") })
        {
            using var page = await SendAsync(Request(HttpMethod.Get, "portal", path, null), cancellationToken);
            var html = await page.Content.ReadAsStringAsync(cancellationToken);
            Require(page.StatusCode == HttpStatusCode.OK, $"{path} answered {(int)page.StatusCode}");
            Require(page.Content.Headers.ContentType?.MediaType == "text/html", $"{path} is {page.Content.Headers.ContentType}, not HTML");
            Require(html.Contains(content, StringComparison.Ordinal), $"{path} does not contain {content}");
        }

        using (var mine = await SendAsync(Request(HttpMethod.Get, "portal", "/requests", null), cancellationToken))
        {
            Require(mine.RequestMessage?.RequestUri?.AbsolutePath == "/signin", $"/requests without a session ended at {mine.RequestMessage?.RequestUri?.AbsolutePath} ({(int)mine.StatusCode}), not the sign-in page");
        }

        var stream = Request(HttpMethod.Get, "portal", $"/requests/delivery/conformance-{_runId}/logs/live", null);
        stream.Headers.Accept.ParseAdd("text/event-stream"); // as a browser's EventSource asks
        using (var live = await SendAsync(stream, cancellationToken))
        {
            Require(live.StatusCode == HttpStatusCode.Unauthorized, $"a request's live logs without a session answered {(int)live.StatusCode}");
        }

        using (var unknown = await SendAsync(Request(HttpMethod.Get, "portal", "/no-such-page", null), cancellationToken))
        {
            Require(unknown.StatusCode == HttpStatusCode.NotFound, $"an unknown page answered {(int)unknown.StatusCode}");
        }

        return null;
    }

    /// <summary>
    /// The release page is the site's badge page: it names the stack version the portal runs (the release under
    /// certification, when there is one), and the badge it links is an SVG image, or a 404 problem before any
    /// certification or where the portal has no verified manifest.
    /// </summary>
    private async Task<string?> PortalReleaseAsync(CancellationToken cancellationToken)
    {
        using var page = await SendAsync(Request(HttpMethod.Get, "portal", "/release", null), cancellationToken);
        var html = await page.Content.ReadAsStringAsync(cancellationToken);
        Require(page.StatusCode == HttpStatusCode.OK, $"/release answered {(int)page.StatusCode}");
        if (expected is not null)
        {
            Require(html.Contains($"<h1>Release {expected.StackVersion}</h1>", StringComparison.Ordinal), $"/release does not name release {expected.StackVersion}");
        }

        using var badge = await SendAsync(Request(HttpMethod.Get, "portal", "/release/badge.svg", null), cancellationToken);
        var body = await badge.Content.ReadAsStringAsync(cancellationToken);
        if (badge.StatusCode == HttpStatusCode.NotFound)
        {
            Require(badge.Content.Headers.ContentType?.MediaType == "application/problem+json", "the missing badge is not a problem");
            Require(!html.Contains("src=\"/release/badge.svg\"", StringComparison.Ordinal), "the page shows a badge the portal does not serve");
            return "no badge yet (no certified, verified manifest where the portal looks)";
        }

        Require(badge.StatusCode == HttpStatusCode.OK, $"the badge answered {(int)badge.StatusCode}");
        Require(badge.Content.Headers.ContentType?.MediaType == "image/svg+xml", $"the badge is {badge.Content.Headers.ContentType}, not SVG");
        Require(body.TrimStart().StartsWith("<svg", StringComparison.Ordinal), "the badge is not an SVG document");
        return null;
    }
}
