using Shoppe.Portal.Release;

namespace Shoppe.Portal.Apis;

/// <summary>The release's certification badge, for the facility's pages and for anyone who links to it.</summary>
internal static class ReleaseApi
{
    public static IEndpointRouteBuilder MapReleaseApi(this IEndpointRouteBuilder routes)
    {
        routes.MapGet("/release/badge.svg", Badge)
            .WithName("GetReleaseBadge")
            .WithSummary("The certification badge of the release this facility runs (SVG)");
        return routes;
    }

    private static IResult Badge(HttpContext context, RunningRelease release)
    {
        if (release.BadgeFile() is not { } file)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "No badge",
                detail: "The release this facility runs has no certification badge (or no verified manifest): see /release.");
        }

        // An image, never a document: no script in it runs even if opened on its own.
        context.Response.Headers.ContentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'";
        context.Response.Headers.CacheControl = "no-cache";
        return TypedResults.PhysicalFile(file, "image/svg+xml");
    }
}
