using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using Shoppe.Security;

namespace Shoppe.Portal.SignIn;

/// <summary>Signs people in and out, and gives the pages the token to call the services with.</summary>
public sealed partial class PortalSignInService(LocalAccounts accounts, TokenIssuer issuer, IOptions<PortalSignInOptions> options, TimeProvider time, ILogger<PortalSignInService> logger)
{
    /// <summary>Signs a local account in: checks its password, issues the facility's token for it and sets the cookie.</summary>
    /// <returns>Whether the name and password were right (and local sign-in is allowed here).</returns>
    public async Task<bool> SignInLocalAsync(HttpContext context, string? name, string? password)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (!PortalAuthentication.LocalAllowed(options.Value))
        {
            return false;
        }

        // PBKDF2 takes a fraction of a second: off the request's thread-pool turn, like any other CPU work.
        var account = await Task.Run(() => accounts.Verify(name, password), context.RequestAborted);
        if (account is null)
        {
            LogRefused(logger, name is { Length: <= 64 } ? name : "(unreadable)");
            return false;
        }

        var lifetime = options.Value.Lifetime;
        var token = issuer.Issue(account.Name, account.Operator ? [ShoppeClaims.OperatorRole] : [], lifetime);
        var properties = new AuthenticationProperties { IsPersistent = false, ExpiresUtc = time.GetUtcNow() + lifetime, AllowRefresh = false };
        properties.StoreTokens([new AuthenticationToken { Name = PortalAuthentication.AccessToken, Value = token }]);
        await context.SignInAsync(PortalAuthentication.CookieScheme, PortalAuthentication.Principal(account.Name, account.Operator, "local"), properties);
        LogSignedIn(logger, account.Name, "a local account");
        return true;
    }

    /// <summary>The token the signed-in user's calls carry (from the cookie, or the bearer token a script sent).</summary>
    public static async Task<string?> TokenAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var header = context.Request.Headers.Authorization.ToString();
        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return header["Bearer ".Length..].Trim();
        }

        return await context.GetTokenAsync(PortalAuthentication.CookieScheme, PortalAuthentication.AccessToken);
    }

    /// <summary>Makes the first account where there is none (one machine): its password goes into a file only its owner reads.</summary>
    /// <returns>The password file, or null when nothing was made.</returns>
    public static string? EnsureFirstAccount(LocalAccounts accounts, PortalSignInOptions options)
    {
        ArgumentNullException.ThrowIfNull(accounts);
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrWhiteSpace(options.FirstAccount) || !PortalAuthentication.LocalAllowed(options) || accounts.Read().Count > 0)
        {
            return null;
        }

        var password = accounts.Set(options.FirstAccount, isOperator: true);
        var file = Path.Combine(Path.GetDirectoryName(accounts.Path)!, options.FirstAccount + ".password");
        PrivateFile.WriteAtomically(file, password + "\n", overwrite: true);
        return file;
    }

    [LoggerMessage(1, LogLevel.Information, "{User} signed in with {How}")]
    private static partial void LogSignedIn(ILogger logger, string user, string how);

    [LoggerMessage(2, LogLevel.Warning, "A sign-in as {User} was refused: wrong name or password")]
    private static partial void LogRefused(ILogger logger, string user);
}
