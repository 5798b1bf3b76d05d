namespace Shoppe.Security;

/// <summary>
/// The facility's token settings, bound from <c>Shoppe:Security</c>. One machine: a local HMAC signing
/// key in a file that every service and the <c>shoppe</c> CLI share. A site: an OpenID Connect
/// <see cref="Authority"/> whose published keys sign the tokens.
/// </summary>
public sealed class ShoppeSecurityOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Shoppe:Security";

    /// <summary>The expected <c>iss</c> of every token.</summary>
    public string Issuer { get; set; } = "coffea-shoppe";

    /// <summary>The expected <c>aud</c> of every token.</summary>
    public string Audience { get; set; } = "coffea-shoppe";

    /// <summary>
    /// The local signing key (created on first use, mode 0600). Default:
    /// <c>~/.local/share/coffea-shoppe/keys/signing.key</c>, the same file the CLI uses.
    /// </summary>
    public string? SigningKeyFile { get; set; }

    /// <summary>
    /// A site's OpenID Connect authority: its published keys validate its tokens (issued by it, for
    /// <see cref="Audience"/>). Without <see cref="SigningKeyFile"/> they are the only tokens taken; with it, the
    /// facility's own tokens are taken beside them (the services', the pilots', the CLI's on the facility's machines).
    /// </summary>
    public string? Authority { get; set; }

    /// <summary>
    /// The group whose members are operators, for tokens of a site's provider that carry groups rather than the
    /// facility's <c>role</c> claim (INDIGO IAM, Keycloak); unset, groups make no one an operator.
    /// </summary>
    public string? OperatorGroup { get; set; }

    /// <summary>The claim that lists a token's groups.</summary>
    public string GroupsClaim { get; set; } = "groups";

    /// <summary>Whether the authority's metadata must come over HTTPS (off only for a provider on loopback in tests).</summary>
    public bool RequireHttpsMetadata { get; set; } = true;

    /// <summary>The signing key file in effect.</summary>
    public string ResolvedSigningKeyFile => string.IsNullOrWhiteSpace(SigningKeyFile) ? DefaultSigningKeyFile : SigningKeyFile;

    /// <summary>Where the local signing key lives when nothing else is configured.</summary>
    public static string DefaultSigningKeyFile => Path.Combine(
        Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.DoNotVerify),
        "coffea-shoppe", "keys", "signing.key");
}
