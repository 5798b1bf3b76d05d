using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Authentication.OpenIdConnect;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.AspNetCore.DataProtection.Repositories;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Shoppe.Security;
using Shoppe.ServiceDefaults;

namespace Shoppe.Portal.SignIn;

/// <summary>
/// How the portal knows who is there: pages by a cookie (HttpOnly, SameSite=Lax, Secure over HTTPS, its contents
/// encrypted with keys kept under the data root), signed into by a local account or by the site's OpenID Connect
/// provider; scripts by a bearer token like every other service. The cookie carries the token the portal calls the
/// services with: the facility's own (local sign-in) or the provider's access token.
/// </summary>
public static class PortalAuthentication
{
    /// <summary>The cookie's scheme.</summary>
    public const string CookieScheme = "portal";

    /// <summary>The site provider's scheme.</summary>
    public const string OidcScheme = "oidc";

    /// <summary>Pages by cookie, scripts by bearer token.</summary>
    public const string PageOrBearerScheme = "portal-or-bearer";

    /// <summary>The name the services' token is stored under in the cookie.</summary>
    public const string AccessToken = "access_token";

    public static WebApplicationBuilder AddPortalSignIn(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.AddShoppeAuthentication();
        var section = builder.Configuration.GetSection(PortalSignInOptions.SectionName);
        var options = section.Get<PortalSignInOptions>() ?? new PortalSignInOptions();
        builder.Services.Configure<PortalSignInOptions>(section);
        builder.Services.AddSingleton(sp => new LocalAccounts(AccountsFile(sp)));
        builder.Services.AddSingleton<TokenIssuer>();
        builder.Services.AddScoped<PortalSignInService>();
        // The cookie's keys live in the portal's data folder, so a sign-in outlives a restart.
        builder.Services.AddDataProtection().SetApplicationName("coffea-shoppe-portal");
        builder.Services.AddOptions<KeyManagementOptions>()
            .Configure<IOptions<ShoppeHostOptions>>((keys, host) => keys.XmlRepository = new FileSystemXmlRepository(
                Directory.CreateDirectory(Path.Combine(host.Value.DataRoot, "data-protection-keys")), NullLoggerFactory.Instance));

        var authentication = builder.Services.AddAuthentication(o =>
        {
            o.DefaultScheme = PageOrBearerScheme;
            o.DefaultChallengeScheme = PageOrBearerScheme;
        });
        authentication.AddPolicyScheme(PageOrBearerScheme, "Cookie for pages, bearer token for scripts", p =>
            p.ForwardDefaultSelector = context => context.Request.Headers.Authorization.ToString().StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
                ? JwtBearerDefaults.AuthenticationScheme
                : CookieScheme);
        authentication.AddCookie(CookieScheme, cookie =>
        {
            cookie.Cookie.Name = "shoppe-portal";
            cookie.Cookie.HttpOnly = true;
            cookie.Cookie.SameSite = SameSiteMode.Lax;
            cookie.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            cookie.LoginPath = "/signin";
            cookie.LogoutPath = "/signout";
            cookie.AccessDeniedPath = "/signin";
            cookie.ExpireTimeSpan = options.Lifetime;
            cookie.SlidingExpiration = false;
            cookie.ReturnUrlParameter = "returnUrl";
            cookie.Events.OnRedirectToLogin = context =>
            {
                // Scripts and streams get a 401, not a sign-in page.
                if (context.Request.Path.StartsWithSegments("/api") || context.Request.Headers.Accept.ToString().Contains("text/event-stream", StringComparison.Ordinal))
                {
                    context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                    return Task.CompletedTask;
                }

                context.Response.Redirect(context.RedirectUri);
                return Task.CompletedTask;
            };
        });

        if (!string.IsNullOrWhiteSpace(options.Oidc.Authority))
        {
            var oidc = options.Oidc;
            authentication.AddOpenIdConnect(OidcScheme, oidc.DisplayName, o =>
            {
                o.SignInScheme = CookieScheme;
                o.Authority = oidc.Authority;
                o.ClientId = oidc.ClientId;
                o.ClientSecret = oidc.ClientSecret;
                o.ResponseType = OpenIdConnectResponseType.Code;
                o.UsePkce = true;
                o.SaveTokens = true;
                o.MapInboundClaims = false;
                o.GetClaimsFromUserInfoEndpoint = true;
                o.RequireHttpsMetadata = oidc.RequireHttps;
                // The code comes back in the query of a top-level GET, so the correlation and nonce cookies can be
                // SameSite=Lax: SameSite=None would need Secure, which a browser refuses over plain HTTP on loopback.
                o.ResponseMode = OpenIdConnectResponseMode.Query;
                o.CorrelationCookie.SameSite = SameSiteMode.Lax;
                o.NonceCookie.SameSite = SameSiteMode.Lax;
                o.CallbackPath = "/signin-oidc";
                o.SignedOutCallbackPath = "/signout-callback-oidc";
                o.Scope.Clear();
                foreach (var scope in oidc.Scopes)
                {
                    o.Scope.Add(scope);
                }

                // Userinfo's answer is merged as claims too: the user's claim and the groups (a list) by their names.
                o.ClaimActions.MapUniqueJsonKey(oidc.UserClaim, oidc.UserClaim);
                o.ClaimActions.MapJsonKey(oidc.GroupsClaim, oidc.GroupsClaim);
                o.Events.OnTicketReceived = context =>
                {
                    // The portal's own principal, from all the provider said: the configured claim as the user's
                    // name, operator from a group; the tokens stay in the ticket's properties.
                    var user = context.Principal!.FindFirst(oidc.UserClaim)?.Value;
                    if (!ShoppeClaims.IsValidName(user))
                    {
                        context.Fail($"the provider's '{oidc.UserClaim}' claim is missing or not a valid user name");
                        return Task.CompletedTask;
                    }

                    var isOperator = context.Principal.FindAll(oidc.GroupsClaim).Any(g => g.Value == oidc.OperatorGroup || g.Value == "/" + oidc.OperatorGroup);
                    context.Principal = Principal(user!, isOperator, "oidc");
                    return Task.CompletedTask;
                };
            });
        }

        return builder;
    }

    /// <summary>The principal a page sees: <c>sub</c> the user's name, <c>role</c> operator where it is one.</summary>
    public static ClaimsPrincipal Principal(string user, bool isOperator, string how)
    {
        var claims = new List<Claim> { new(ShoppeClaims.Subject, user), new("amr", how) };
        if (isOperator)
        {
            claims.Add(new Claim(ShoppeClaims.Role, ShoppeClaims.OperatorRole));
        }

        return new ClaimsPrincipal(new ClaimsIdentity(claims, CookieScheme, ShoppeClaims.Subject, ShoppeClaims.Role));
    }

    /// <summary>Whether local accounts may sign in: as configured, else only where there is no site provider.</summary>
    public static bool LocalAllowed(PortalSignInOptions options) => options.Local ?? string.IsNullOrWhiteSpace(options.Oidc.Authority);

    private static string AccountsFile(IServiceProvider services)
    {
        var configured = services.GetRequiredService<IOptions<PortalSignInOptions>>().Value.AccountsFile;
        return string.IsNullOrWhiteSpace(configured)
            ? Path.Combine(services.GetRequiredService<IOptions<ShoppeHostOptions>>().Value.DataRoot, "accounts.json")
            : configured;
    }
}
