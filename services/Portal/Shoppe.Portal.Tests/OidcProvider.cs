using System.Net;
using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenIddict.Abstractions;
using OpenIddict.Server.AspNetCore;
using Shoppe.Testing;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace Shoppe.Portal.Tests;

/// <summary>
/// A real OpenID Connect provider on 127.0.0.1 for the tests, built on OpenIddict (its server, with its Entity
/// Framework Core stores in memory): the authorization-code flow with PKCE, a sign-in form of its own, userinfo,
/// end-session, and signed JWT access tokens for the facility's audience, as INDIGO IAM or Keycloak give a site.
/// Its users and their groups are given; nothing about the flow is simulated.
/// </summary>
public sealed class OidcProvider : IAsyncDisposable
{
    /// <summary>The client the portal is registered as.</summary>
    public const string ClientId = "shoppe-portal";

    /// <summary>The audience of the access tokens (the facility's services).</summary>
    public const string Audience = "coffea-shoppe";

    private readonly WebApplication _app;

    private OidcProvider(WebApplication app, string url, string secret, System.Runtime.CompilerServices.StrongBox<string?> lastScope)
    {
        _lastScope = lastScope;
        _app = app;
        Url = url;
        ClientSecret = secret;
    }

    /// <summary>The issuer (with its trailing slash, as the provider names itself).</summary>
    public string Url { get; }

    /// <summary>The portal's client secret.</summary>
    public string ClientSecret { get; }

    /// <summary>The <c>scope</c> parameter of the last authorization request, as the relying party sent it.</summary>
    public string? LastAuthorizeScope => _lastScope.Value;

    private readonly System.Runtime.CompilerServices.StrongBox<string?> _lastScope;

    /// <summary>Starts the provider with <paramref name="users"/> (name, password, groups); the portal is registered once its address is known.</summary>
    public static async Task<OidcProvider> StartAsync(IReadOnlyDictionary<string, (string Password, string[] Groups)> users)
    {
        var port = Loopback.FreePort();
        var url = $"http://127.0.0.1:{port}/";
        var secret = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));
        var lastScope = new System.Runtime.CompilerServices.StrongBox<string?>();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(url);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        var database = "provider-" + Guid.NewGuid().ToString("N");
        builder.Services.AddDbContext<ProviderDb>(o =>
        {
            o.UseInMemoryDatabase(database);
            o.UseOpenIddict();
        });
        builder.Services.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme)
            .AddCookie(c => c.Cookie.Name = "provider-session");
        builder.Services.AddAuthorization();
        builder.Services.AddOpenIddict()
            .AddCore(o => o.UseEntityFrameworkCore().UseDbContext<ProviderDb>())
            .AddServer(o =>
            {
                o.SetIssuer(new Uri(url));
                o.SetAuthorizationEndpointUris("connect/authorize")
                    .SetTokenEndpointUris("connect/token")
                    .SetUserInfoEndpointUris("connect/userinfo")
                    .SetEndSessionEndpointUris("connect/endsession");
                o.AllowAuthorizationCodeFlow().RequireProofKeyForCodeExchange();
                o.RegisterScopes(Scopes.OpenId, Scopes.Profile, "groups");
                o.AddEphemeralEncryptionKey().AddEphemeralSigningKey();
                o.DisableAccessTokenEncryption();
                o.UseAspNetCore()
                    .EnableAuthorizationEndpointPassthrough()
                    .EnableTokenEndpointPassthrough()
                    .EnableUserInfoEndpointPassthrough()
                    .EnableEndSessionEndpointPassthrough()
                    .DisableTransportSecurityRequirement();
            });

        var app = builder.Build();
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapGet("/login", (string returnUrl) => Results.Content(LoginForm(returnUrl, failed: false), "text/html"));
        app.MapPost("/login", async (HttpContext context) =>
        {
            var form = await context.Request.ReadFormAsync();
            var name = form["username"].ToString();
            var returnUrl = form["returnUrl"].ToString();
            if (!users.TryGetValue(name, out var user) || user.Password != form["password"].ToString() || !returnUrl.StartsWith("/connect/authorize", StringComparison.Ordinal))
            {
                return Results.Content(LoginForm(returnUrl, failed: true), "text/html", statusCode: 401);
            }

            var identity = new ClaimsIdentity([new Claim(Claims.Subject, name)], CookieAuthenticationDefaults.AuthenticationScheme);
            await context.SignInAsync(new ClaimsPrincipal(identity));
            return Results.Redirect(returnUrl);
        });
        app.MapMethods("/connect/authorize", ["GET", "POST"], async (HttpContext context) =>
        {
            var request = context.GetOpenIddictServerRequest()!;
            lastScope.Value = request.Scope;
            var session = await context.AuthenticateAsync(CookieAuthenticationDefaults.AuthenticationScheme);
            if (!session.Succeeded)
            {
                return Results.Redirect("/login?returnUrl=" + Uri.EscapeDataString(context.Request.Path + context.Request.QueryString));
            }

            var name = session.Principal!.FindFirst(Claims.Subject)!.Value;
            var identity = new ClaimsIdentity(OpenIddictServerAspNetCoreDefaults.AuthenticationScheme, Claims.Name, Claims.Role);
            identity.SetClaim(Claims.Subject, name).SetClaim(Claims.Name, name).SetClaim(Claims.PreferredUsername, name);
            identity.SetClaims("groups", [.. users[name].Groups]);
            identity.SetScopes(request.GetScopes());
            identity.SetResources(Audience);
            identity.SetDestinations(_ => [Destinations.AccessToken, Destinations.IdentityToken]);
            return Results.SignIn(new ClaimsPrincipal(identity), authenticationScheme: OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
        });
        app.MapPost("/connect/token", async (HttpContext context) =>
        {
            var request = context.GetOpenIddictServerRequest()!;
            if (!request.IsAuthorizationCodeGrantType())
            {
                return Results.Forbid(authenticationSchemes: [OpenIddictServerAspNetCoreDefaults.AuthenticationScheme]);
            }

            var code = await context.AuthenticateAsync(OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
            return Results.SignIn(code.Principal!, authenticationScheme: OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
        });
        app.MapMethods("/connect/userinfo", ["GET", "POST"], async (HttpContext context) =>
        {
            var token = await context.AuthenticateAsync(OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
            var name = token.Principal!.GetClaim(Claims.Subject)!;
            return Results.Json(new Dictionary<string, object>
            {
                [Claims.Subject] = name,
                [Claims.PreferredUsername] = name,
                ["groups"] = users[name].Groups,
            });
        });
        app.MapMethods("/connect/endsession", ["GET", "POST"], async (HttpContext context) =>
        {
            await context.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
            return Results.SignOut(authenticationSchemes: [OpenIddictServerAspNetCoreDefaults.AuthenticationScheme]);
        });

        await app.StartAsync();
        return new OidcProvider(app, url, secret, lastScope);
    }

    /// <summary>Registers the portal at <paramref name="portal"/> as a confidential client (code flow with PKCE).</summary>
    public async Task RegisterPortalAsync(string portal)
    {
        await using (var scope = _app.Services.CreateAsyncScope())
        {
            var applications = scope.ServiceProvider.GetRequiredService<IOpenIddictApplicationManager>();
            await applications.CreateAsync(new OpenIddictApplicationDescriptor
            {
                ClientId = ClientId,
                ClientSecret = ClientSecret,
                ClientType = ClientTypes.Confidential,
                RedirectUris = { new Uri(portal + "/signin-oidc") },
                PostLogoutRedirectUris = { new Uri(portal + "/signout-callback-oidc") },
                Permissions =
                {
                    Permissions.Endpoints.Authorization,
                    Permissions.Endpoints.Token,
                    Permissions.Endpoints.EndSession,
                    Permissions.GrantTypes.AuthorizationCode,
                    Permissions.ResponseTypes.Code,
                    Permissions.Scopes.Profile,
                    Permissions.Prefixes.Scope + "groups",
                },
                Requirements = { Requirements.Features.ProofKeyForCodeExchange },
            });
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private static string LoginForm(string returnUrl, bool failed)
    {
        var h = HtmlEncoder.Default;
        return $"""
            <!DOCTYPE html><html lang="en"><head><title>Test provider</title></head><body>
            <h1>Test identity provider</h1>{(failed ? "<p role=\"alert\">Wrong user name or password.</p>" : "")}
            <form method="post" action="/login"><input type="hidden" name="returnUrl" value="{h.Encode(returnUrl)}">
            <label for="u">Provider user</label><input id="u" name="username">
            <label for="p">Provider password</label><input id="p" name="password" type="password">
            <button type="submit">Continue</button></form></body></html>
            """;
    }

    /// <summary>OpenIddict's stores, in memory.</summary>
    private sealed class ProviderDb(DbContextOptions<ProviderDb> options) : DbContext(options);
}
