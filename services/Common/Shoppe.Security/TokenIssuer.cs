using System.Security.Claims;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Shoppe.Security;

/// <summary>Mints facility tokens with the local signing key (CLI <c>shoppe token issue</c>, the AppHost).</summary>
public sealed class TokenIssuer(ShoppeSecurityOptions options, TimeProvider time)
{
    /// <summary>The longest lifetime a minted token may have.</summary>
    public static readonly TimeSpan MaxLifetime = TimeSpan.FromDays(366);

    /// <summary>Mints a token for <paramref name="name"/> with the given roles.</summary>
    public string Issue(string name, IEnumerable<string> roles, TimeSpan lifetime) => Issue(name, roles, lifetime, scope: null);

    /// <summary>
    /// Mints a token with a WLCG-profile <c>scope</c> claim as well (space-separated, e.g.
    /// <c>storage.read:/data storage.create:/data/alice</c>), which storage endpoints check against the path.
    /// </summary>
    public string Issue(string name, IEnumerable<string> roles, TimeSpan lifetime, string? scope)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(roles);
        if (!ShoppeClaims.IsValidName(name))
        {
            throw new ArgumentException($"'{name}' is not a valid name: use 1-64 of A-Za-z0-9._- starting with a letter or digit.", nameof(name));
        }

        if (lifetime <= TimeSpan.Zero || lifetime > MaxLifetime)
        {
            throw new ArgumentOutOfRangeException(nameof(lifetime), lifetime, $"A token lives between 1 s and {MaxLifetime.TotalDays} days.");
        }

        var key = LocalSigningKey.LoadOrCreate(options.ResolvedSigningKeyFile);
        var now = time.GetUtcNow().UtcDateTime;
        var claims = new List<Claim> { new(ShoppeClaims.Subject, name) };
        claims.AddRange(roles.Distinct(StringComparer.Ordinal).Select(r => new Claim(ShoppeClaims.Role, r)));
        if (!string.IsNullOrWhiteSpace(scope))
        {
            claims.Add(new Claim(ShoppeClaims.Scope, scope.Trim()));
        }

        var descriptor = new SecurityTokenDescriptor
        {
            Issuer = options.Issuer,
            Audience = options.Audience,
            Subject = new ClaimsIdentity(claims),
            IssuedAt = now,
            NotBefore = now,
            Expires = now + lifetime,
            SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.HmacSha256),
        };
        return new JsonWebTokenHandler().CreateToken(descriptor);
    }
}
