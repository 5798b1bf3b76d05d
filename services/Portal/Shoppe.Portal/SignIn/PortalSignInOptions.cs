namespace Shoppe.Portal.SignIn;

/// <summary>How people sign in to the portal, bound from <c>Portal:SignIn</c>.</summary>
public sealed class PortalSignInOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Portal:SignIn";

    /// <summary>
    /// The local accounts file (one machine, no identity provider). Default: <c>accounts.json</c> in the portal's data root.
    /// </summary>
    public string? AccountsFile { get; set; }

    /// <summary>
    /// An account made when there is none yet (the AppHost names the machine's user): its random password is written
    /// beside the accounts file as <c>&lt;name&gt;.password</c>, readable by its owner only.
    /// </summary>
    public string? FirstAccount { get; set; }

    /// <summary>Whether local accounts may sign in (default: only where no identity provider is configured).</summary>
    public bool? Local { get; set; }

    /// <summary>How long a sign-in lasts, and the facility token issued with a local one.</summary>
    public TimeSpan Lifetime { get; set; } = TimeSpan.FromHours(8);

    /// <summary>The site's OpenID Connect provider (INDIGO IAM, CILogon, Keycloak...), when there is one.</summary>
    public OidcProviderOptions Oidc { get; set; } = new();
}

/// <summary>The site's OpenID Connect provider.</summary>
public sealed class OidcProviderOptions
{
    /// <summary>The issuer URL; sign-in through the provider is offered when this is set.</summary>
    public string? Authority { get; set; }

    /// <summary>The portal's client id at the provider.</summary>
    public string? ClientId { get; set; }

    /// <summary>The portal's client secret (from a secret store, never a site file).</summary>
    public string? ClientSecret { get; set; }

    /// <summary>The scopes asked for; the access token they give must be one the services accept (its audience).</summary>
    public List<string> Scopes { get; set; } = ["openid", "profile"];

    /// <summary>The claim that names the user.</summary>
    public string UserClaim { get; set; } = "sub";

    /// <summary>The claim whose values are the user's groups (an operator has <see cref="OperatorGroup"/> among them).</summary>
    public string GroupsClaim { get; set; } = "groups";

    /// <summary>The group that makes a user an operator.</summary>
    public string OperatorGroup { get; set; } = "shoppe-operators";

    /// <summary>What the sign-in button says.</summary>
    public string DisplayName { get; set; } = "the site's identity provider";

    /// <summary>Whether the provider must be reached over HTTPS (off only for a provider on loopback in tests).</summary>
    public bool RequireHttps { get; set; } = true;
}
