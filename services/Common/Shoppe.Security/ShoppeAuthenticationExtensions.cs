using System.Security.Claims;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.Tokens;
using Shoppe.ServiceDefaults;

namespace Shoppe.Security;

/// <summary>Registers the facility's token model in a service.</summary>
public static class ShoppeAuthenticationExtensions
{
    /// <summary>
    /// JWT bearer authentication (issuer, audience and lifetime checked; the local signing key, or a
    /// site's OIDC authority) and the <c>shoppe-user</c>, <c>shoppe-operator</c> and <c>shoppe-service</c> policies.
    /// </summary>
    public static TBuilder AddShoppeAuthentication<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        var options = new ShoppeSecurityOptions();
        builder.Configuration.GetSection(ShoppeSecurityOptions.SectionName).Bind(options);
        builder.Services.AddSingleton(options);
        builder.Services.TryAddSingleton(TimeProvider.System);

        builder.Services.AddAuthentication(JwtBearerDefaults.AuthenticationScheme)
            .AddJwtBearer(jwt =>
            {
                jwt.MapInboundClaims = false;
                jwt.TokenValidationParameters = new TokenValidationParameters
                {
                    ValidIssuer = options.Issuer,
                    ValidAudience = options.Audience,
                    NameClaimType = ShoppeClaims.Subject,
                    RoleClaimType = ShoppeClaims.Role,
                    ClockSkew = TimeSpan.FromSeconds(30),
                };
                if (string.IsNullOrWhiteSpace(options.Authority) || !string.IsNullOrWhiteSpace(options.SigningKeyFile))
                {
                    jwt.TokenValidationParameters.IssuerSigningKey = LocalSigningKey.LoadOrCreate(options.ResolvedSigningKeyFile);
                }

                if (!string.IsNullOrWhiteSpace(options.OperatorGroup))
                {
                    // A provider's group (Keycloak writes it with a leading slash) as the facility's operator role.
                    jwt.Events = new JwtBearerEvents
                    {
                        OnTokenValidated = context =>
                        {
                            if (context.Principal?.Identity is ClaimsIdentity identity
                                && identity.FindAll(options.GroupsClaim).Any(g => g.Value == options.OperatorGroup || g.Value == "/" + options.OperatorGroup)
                                && !identity.HasClaim(ShoppeClaims.Role, ShoppeClaims.OperatorRole))
                            {
                                identity.AddClaim(new Claim(ShoppeClaims.Role, ShoppeClaims.OperatorRole));
                            }

                            return Task.CompletedTask;
                        },
                    };
                }

                if (!string.IsNullOrWhiteSpace(options.Authority))
                {
                    // The provider's issuer and keys are added to these from its metadata (its tokens are taken too).
                    jwt.Authority = options.Authority;
                    jwt.RequireHttpsMetadata = options.RequireHttpsMetadata;
                }
            });
        // Validated tokens are remembered briefly (RememberingTokenHandler says how, and why), by the service's one clock.
        builder.Services.AddOptions<JwtBearerOptions>(JwtBearerDefaults.AuthenticationScheme).Configure<TimeProvider>((jwt, time) =>
        {
            jwt.TimeProvider = time;
            jwt.TokenHandlers.Clear();
            jwt.TokenHandlers.Add(new RememberingTokenHandler(time) { MapInboundClaims = false });
        });
        builder.Services.AddAuthorizationBuilder()
            .AddPolicy(ShoppeClaims.UserPolicy, p => p.RequireAuthenticatedUser().RequireClaim(ShoppeClaims.Subject))
            .AddPolicy(ShoppeClaims.OperatorPolicy, p => p.RequireAuthenticatedUser().RequireClaim(ShoppeClaims.Role, ShoppeClaims.OperatorRole))
            .AddPolicy(ShoppeClaims.ServicePolicy, p => p.RequireAuthenticatedUser()
                .RequireClaim(ShoppeClaims.Role, ShoppeClaims.ServiceRole, ShoppeClaims.OperatorRole));
        return builder;
    }

    /// <summary>
    /// Authentication and authorization, then the caller's name in the logging scope as <c>enduser.id</c>,
    /// so every log record of a request says whose it is (the logs service records the owner from it).
    /// </summary>
    public static WebApplication UseShoppeAuthentication(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.UseAuthentication();
        app.UseAuthorization();
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Shoppe.Security");
        app.Use(async (HttpContext context, RequestDelegate next) =>
        {
            var user = context.User.UserName();
            if (user is null || context.User.HasClaim(ShoppeClaims.Role, ShoppeClaims.ServiceRole))
            {
                await next(context);
                return;
            }

            using (logger.BeginScope(new AttributeLogScope(ShoppeAttributes.EndUser, user)))
            {
                await next(context);
            }
        });
        return app;
    }
}
