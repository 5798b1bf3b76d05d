using Shoppe.Security;

namespace Shoppe.Cli.Tests.Commands;

/// <summary><c>shoppe token issue</c>: storage scopes, and the signing key it finds.</summary>
public sealed class TokenCommandTests : IDisposable
{
    private readonly CliRun _run = new();

    public void Dispose() => _run.Dispose();

    [Fact]
    public async Task Issue_WithScopes_RepeatedOrSpaceSeparated_PutsEachOnceInTheScopeClaim()
    {
        var key = _run.Key("signing.key");

        var (exit, output) = await _run.ShoppeAsync("token", "issue", "--user", "alice", "--key-file", key,
            "--scope", "storage.read:/", "storage.modify:/data", "--scope", "storage.create:/in storage.read:/");

        Assert.True(exit == 0, output);
        var claims = await CliRun.ValidateAsync(output.Trim(), key);
        Assert.Equal("alice", claims[ShoppeClaims.Subject]);
        Assert.Equal("storage.read:/ storage.modify:/data storage.create:/in", claims[ShoppeClaims.Scope]);
    }

    [Theory]
    [InlineData("--pilot", "pilot")]
    [InlineData("--service", "service")]
    [InlineData("--operator", "operator")]
    public async Task Issue_WithARole_GivesTheTokenThatRoleOnly(string option, string role)
    {
        var key = _run.Key("signing.key");

        var (exit, output) = await _run.ShoppeAsync("token", "issue", "--user", "logs", option, "--lifetime", "30d", "--key-file", key);

        Assert.True(exit == 0, output);
        var claims = await CliRun.ValidateAsync(output.Trim(), key);
        Assert.Equal("logs", claims[ShoppeClaims.Subject]);
        Assert.Equal(role, claims[ShoppeClaims.Role]);
    }

    [Fact]
    public async Task Issue_WithoutScopes_GivesATokenWithNoScopeClaim()
    {
        var key = _run.Key("signing.key");

        var (exit, output) = await _run.ShoppeAsync("token", "issue", "--user", "alice", "--key-file", key);

        Assert.True(exit == 0, output);
        Assert.False((await CliRun.ValidateAsync(output.Trim(), key)).ContainsKey(ShoppeClaims.Scope));
    }

    [Theory]
    [InlineData("storage.read", "has no absolute path")]
    [InlineData("storage.read:data", "has no absolute path")]
    [InlineData("storage.stage:/", "is not a storage scope")]
    [InlineData("openid", "is not a storage scope")]
    [InlineData("Storage.Read:/", "is not a storage scope")]
    [InlineData("storage.read:/data/../etc", "has a path with . or .. segments")]
    public async Task Issue_WithAMalformedScope_SaysWhichAndWhy_AndMintsNothing(string scope, string why)
    {
        var key = _run.Key("signing.key");

        var (exit, output) = await _run.ShoppeAsync("token", "issue", "--user", "alice", "--key-file", key, "--scope", "storage.read:/", scope);

        Assert.Equal(2, exit);
        Assert.StartsWith($"error: --scope: '{scope}' {why}", output, StringComparison.Ordinal);
        Assert.Contains("storage.read:/", output, StringComparison.Ordinal);
        Assert.DoesNotContain("eyJ", output, StringComparison.Ordinal); // no token on stdout
    }

    [Fact]
    public async Task Issue_WithNoKeyOptionOrVariable_SignsWithTheKeyTheFacilityFileNames()
    {
        var facility = _run.Facility(_run.DefaultFacilityFile, "scratch/shoppe");
        _run.Key(Path.Combine("home", "keys", "signing.key")); // a default key exists too, and is not the facility's

        var (exit, output) = await _run.ShoppeAsync("token", "issue", "--user", "alice");

        Assert.True(exit == 0, output);
        await CliRun.ValidateAsync(output.Trim(), facility.SigningKeyFile);
    }

    [Fact]
    public async Task Issue_WhenTheKeyIsMissing_SaysWhereItLookedAndWhichOptionAndVariableToUse()
    {
        var (exit, output) = await _run.ShoppeAsync("token", "issue", "--user", "alice");

        Assert.Equal(2, exit);
        Assert.Contains($"no signing key at {_run.DefaultKeyFile}", output, StringComparison.Ordinal);
        Assert.Contains($"no facility file at {_run.DefaultFacilityFile}", output, StringComparison.Ordinal);
        Assert.Contains("--key-file FILE", output, StringComparison.Ordinal);
        Assert.Contains("SHOPPE_KEY_FILE", output, StringComparison.Ordinal);
        Assert.False(File.Exists(_run.DefaultKeyFile), "the CLI created a key no facility holds");
    }

    [Fact]
    public async Task Issue_WhenTheFacilityFileNamesAKeyThatIsGone_SaysSo_AndCreatesNone()
    {
        var facility = _run.Facility(_run.DefaultFacilityFile, "removed", withKey: false);

        var (exit, output) = await _run.ShoppeAsync("token", "issue", "--user", "alice");

        Assert.Equal(2, exit);
        Assert.Contains($"no signing key at {facility.SigningKeyFile} (the facility file {_run.DefaultFacilityFile}", output, StringComparison.Ordinal);
        Assert.Contains("--key-file FILE or set SHOPPE_KEY_FILE", output, StringComparison.Ordinal);
        Assert.False(File.Exists(facility.SigningKeyFile));
    }

    [Fact]
    public async Task Issue_WithABrokenFacilityFile_NamesIt()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(_run.DefaultFacilityFile)!);
        File.WriteAllText(_run.DefaultFacilityFile, """{ "dataRoot": "/x" }""");

        var (exit, output) = await _run.ShoppeAsync("token", "issue", "--user", "alice");

        Assert.Equal(2, exit);
        Assert.Contains($"The facility file {_run.DefaultFacilityFile} is not valid", output, StringComparison.Ordinal);
        Assert.Contains("--key-file FILE or set SHOPPE_KEY_FILE", output, StringComparison.Ordinal);
    }
}
