using Shoppe.Portal.SignIn;

namespace Shoppe.Portal.Tests;

/// <summary>The local accounts file: hashes only, its owner's alone, and a name that is not there costs as much as a wrong password.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class LocalAccountsTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("shoppe-accounts-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void Passwords_AreCheckedAgainstHashes_InAFileOnlyItsOwnerReads()
    {
        var accounts = new LocalAccounts(Path.Combine(_folder, "accounts.json"));
        var generated = accounts.Set("alice", isOperator: false);
        accounts.Set("olive", isOperator: true, "olive's own");

        Assert.Equal("alice", accounts.Verify("alice", generated)?.Name);
        Assert.True(accounts.Verify("olive", "olive's own")!.Operator);
        Assert.Null(accounts.Verify("alice", generated + "x"));
        Assert.Null(accounts.Verify("alice", "olive's own"));
        Assert.Null(accounts.Verify("mallory", generated));
        Assert.Null(accounts.Verify(null, null));

        var text = File.ReadAllText(accounts.Path);
        Assert.DoesNotContain(generated, text, StringComparison.Ordinal);
        Assert.DoesNotContain("olive's own", text, StringComparison.Ordinal);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(accounts.Path));

        // A new password replaces the old one.
        accounts.Set("alice", isOperator: false, "new");
        Assert.Null(accounts.Verify("alice", generated));
        Assert.NotNull(accounts.Verify("alice", "new"));
        Assert.Throws<ArgumentException>(() => accounts.Set("../etc", isOperator: false));
    }

    [Fact]
    public void FirstAccount_IsMadeOnce_WithItsPasswordInAPrivateFile()
    {
        var accounts = new LocalAccounts(Path.Combine(_folder, "accounts.json"));
        var options = new PortalSignInOptions { FirstAccount = "physicist" };
        var file = PortalSignInService.EnsureFirstAccount(accounts, options);

        Assert.NotNull(file);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        var account = accounts.Verify("physicist", File.ReadAllText(file).Trim());
        Assert.True(account!.Operator);
        Assert.Null(PortalSignInService.EnsureFirstAccount(accounts, options));

        // Where the site has a provider, no local account is made.
        var site = new LocalAccounts(Path.Combine(_folder, "site.json"));
        Assert.Null(PortalSignInService.EnsureFirstAccount(site, new PortalSignInOptions { FirstAccount = "x", Oidc = { Authority = "https://iam.example" } }));
    }
}
