using System.Security.Claims;
using System.Text.RegularExpressions;

namespace Shoppe.Security;

/// <summary>The claims of a Coffea Shoppe token and what they mean.</summary>
public static partial class ShoppeClaims
{
    /// <summary>The user (or service) name: the JWT <c>sub</c>.</summary>
    public const string Subject = "sub";

    /// <summary>A role: <see cref="OperatorRole"/> or <see cref="ServiceRole"/>; absent for plain users.</summary>
    public const string Role = "role";

    /// <summary>Operators read everything and administer services.</summary>
    public const string OperatorRole = "operator";

    /// <summary>Services of the facility itself (log export, internal calls).</summary>
    public const string ServiceRole = "service";

    /// <summary>Workflow pilots run by the facility: they take any user's jobs (a user's own token takes only theirs).</summary>
    public const string PilotRole = "pilot";

    /// <summary>WLCG token profile scopes, space-separated (<c>storage.read:/path</c>, <c>storage.create:/path</c>, <c>storage.modify:/path</c>).</summary>
    public const string Scope = "scope";

    /// <summary>Policy: any authenticated caller.</summary>
    public const string UserPolicy = "shoppe-user";

    /// <summary>Policy: operators only.</summary>
    public const string OperatorPolicy = Shoppe.ServiceDefaults.Figures.ServiceFigures.OperatorPolicy;

    /// <summary>Policy: the facility's own services (or operators).</summary>
    public const string ServicePolicy = "shoppe-service";

    /// <summary>The caller's name, or null when anonymous.</summary>
    public static string? UserName(this ClaimsPrincipal principal)
    {
        ArgumentNullException.ThrowIfNull(principal);
        return principal.Identity?.IsAuthenticated == true ? principal.FindFirst(Subject)?.Value : null;
    }

    /// <summary>Whether the caller is an operator.</summary>
    public static bool IsOperator(this ClaimsPrincipal principal)
    {
        ArgumentNullException.ThrowIfNull(principal);
        return principal.HasClaim(Role, OperatorRole);
    }

    /// <summary>Whether <paramref name="name"/> may be a user or service name: 1-64 of <c>A-Za-z0-9._-</c>, starting with a letter or digit.</summary>
    public static bool IsValidName(string? name) => name is not null && NamePattern().IsMatch(name);

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    private static partial Regex NamePattern();
}
