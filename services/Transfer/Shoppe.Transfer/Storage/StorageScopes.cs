using System.Security.Claims;
using Shoppe.Security;

namespace Shoppe.Transfer.Storage;

/// <summary>What a request wants to do to a path, in WLCG token profile terms.</summary>
public enum StorageAccess
{
    /// <summary>GET, HEAD, PROPFIND, and the source side of a push.</summary>
    Read,

    /// <summary>Writing a file that does not exist yet (PUT, MKCOL, the destination of a pull).</summary>
    Create,

    /// <summary>Overwriting or deleting.</summary>
    Modify,
}

/// <summary>
/// Checks the WLCG-profile <c>scope</c> claim against a path: <c>storage.read:/data</c> allows reading /data and
/// everything below it; <c>storage.create:</c> allows new files; <c>storage.modify:</c> allows creating, changing and
/// deleting. Operators and the facility's own services may do everything; a token without storage scopes, nothing.
/// </summary>
public static class StorageScopes
{
    public static bool Allows(ClaimsPrincipal user, StorageAccess access, string requestPath)
    {
        ArgumentNullException.ThrowIfNull(user);
        if (user.IsOperator() || user.HasClaim(ShoppeClaims.Role, ShoppeClaims.ServiceRole))
        {
            return true;
        }

        foreach (var claim in user.FindAll(ShoppeClaims.Scope))
        {
            foreach (var scope in claim.Value.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                var colon = scope.IndexOf(':', StringComparison.Ordinal);
                var (name, path) = colon < 0 ? (scope, "/") : (scope[..colon], scope[(colon + 1)..]);
                var grants = name switch
                {
                    WlcgStorageScopes.Read => access == StorageAccess.Read,
                    WlcgStorageScopes.Create => access == StorageAccess.Create,
                    WlcgStorageScopes.Modify => access is StorageAccess.Create or StorageAccess.Modify,
                    _ => false,
                };
                if (grants && Covers(path, requestPath))
                {
                    return true;
                }
            }
        }

        return false;
    }

    private static bool Covers(string scopePath, string requestPath)
    {
        var prefix = "/" + scopePath.Trim('/');
        return prefix == "/" || requestPath == prefix || requestPath.StartsWith(prefix + "/", StringComparison.Ordinal);
    }
}
