using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using Shoppe.Portal.SignIn;

namespace Shoppe.Portal.Apis;

/// <summary>Sign-out (a form's POST, antiforgery checked) and sign-in through the site's provider.</summary>
internal static class SignInApi
{
    public static IEndpointRouteBuilder MapSignInApi(this IEndpointRouteBuilder routes)
    {
        routes.MapPost("/signout", SignOutAsync).WithName("SignOut").WithSummary("End the sign-in (the cookie; the provider's session too where there is one)");
        routes.MapGet("/signin/provider", Challenge).WithName("SignInWithProvider").WithSummary("Sign in through the site's OpenID Connect provider");
        return routes;
    }

    private static async Task<IResult> SignOutAsync(HttpContext context, IAntiforgery antiforgery, IOptions<PortalSignInOptions> options)
    {
        try
        {
            await antiforgery.ValidateRequestAsync(context);
        }
        catch (AntiforgeryValidationException)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Form expired", detail: "The sign-out form's antiforgery token is missing or invalid: reload the page and sign out again.");
        }

        await context.SignOutAsync(PortalAuthentication.CookieScheme);
        var viaProvider = context.User.FindFirst("amr")?.Value == "oidc" && !string.IsNullOrWhiteSpace(options.Value.Oidc.Authority);
        if (viaProvider)
        {
            await context.SignOutAsync(PortalAuthentication.OidcScheme, new AuthenticationProperties { RedirectUri = "/" });
            return TypedResults.Empty;
        }

        return TypedResults.Redirect("/");
    }

    private static IResult Challenge(string? returnUrl, IOptions<PortalSignInOptions> options) =>
        string.IsNullOrWhiteSpace(options.Value.Oidc.Authority)
            ? TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "No identity provider", detail: "This facility has no OpenID Connect provider configured; sign in with a local account.")
            : TypedResults.Challenge(new AuthenticationProperties { RedirectUri = LocalPath(returnUrl) }, [PortalAuthentication.OidcScheme]);

    /// <summary>A path on this site to go back to after signing in: anything else (another site, <c>//host</c>, <c>/\host</c>) is the home page.</summary>
    public static string LocalPath(string? returnUrl) =>
        returnUrl is { Length: > 0 and <= 2048 } && returnUrl[0] == '/' && (returnUrl.Length == 1 || (returnUrl[1] != '/' && returnUrl[1] != '\\'))
            && !returnUrl.Any(char.IsControl)
            ? returnUrl
            : "/";
}
