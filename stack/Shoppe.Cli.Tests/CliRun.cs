using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Shoppe.Cli.Commands;
using Shoppe.Security;
using Spectre.Console;

namespace Shoppe.Cli.Tests;

/// <summary>
/// A temporary folder for one test, with what the CLI would otherwise take from the user's machine: its own
/// environment variables, facility file and default signing key, all under the folder, which goes when the test ends.
/// </summary>
internal sealed class CliRun : IDisposable
{
    public string Folder { get; } = Directory.CreateTempSubdirectory("shoppe-cli-").FullName;

    public Dictionary<string, string> Variables { get; } = new(StringComparer.Ordinal);

    /// <summary>The facility file when <c>$SHOPPE_FACILITY_FILE</c> is not set (the user's would be ~/.local/share/…).</summary>
    public string DefaultFacilityFile => Path.Combine(Folder, "home", "facility.json");

    /// <summary>The default signing key (the user's would be ~/.local/share/coffea-shoppe/keys/signing.key).</summary>
    public string DefaultKeyFile => Path.Combine(Folder, "home", "keys", "signing.key");

    public CliSettings Settings => new(name => Variables.GetValueOrDefault(name), DefaultFacilityFile, DefaultKeyFile);

    public void Dispose() => Directory.Delete(Folder, recursive: true);

    /// <summary>A signing key at <paramref name="relativePath"/> under the folder; returns its full path.</summary>
    public string Key(string relativePath)
    {
        var path = Path.Combine(Folder, relativePath);
        LocalSigningKey.LoadOrCreate(path);
        return path;
    }

    /// <summary>Writes a facility file at <paramref name="path"/> for a facility whose data root is under the folder.</summary>
    public LocalFacility Facility(string path, string dataRoot, bool withKey = true)
    {
        var root = Path.Combine(Folder, dataRoot);
        var key = Path.Combine(root, "keys", "signing.key");
        if (withKey)
        {
            LocalSigningKey.LoadOrCreate(key);
        }

        var facility = new LocalFacility(root, key, new Dictionary<string, string> { ["logs"] = "http://127.0.0.1:7106", ["transfer"] = "http://127.0.0.1:7103" },
            DateTimeOffset.UtcNow);
        facility.Write(path);
        return facility;
    }

    /// <summary>Runs <c>shoppe</c> with these settings; returns its exit code and everything it printed.</summary>
    public Task<(int Exit, string Output)> ShoppeAsync(params string[] args) => ShoppeAsync(httpHandler: null, args);

    /// <summary>Runs <c>shoppe</c> against an in-memory service (its test server's handler).</summary>
    public async Task<(int Exit, string Output)> ShoppeAsync(HttpMessageHandler? httpHandler, params string[] args)
    {
        var output = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Out = new AnsiConsoleOutput(output),
        });
        console.Profile.Width = 4096; // messages on one line, as in a pipe
        var exit = await ShoppeCli.RunAsync(args, console, httpHandler, Settings, TestContext.Current.CancellationToken);
        return (exit, output.ToString());
    }

    /// <summary>The token's claims when it is a valid facility token signed with the key at <paramref name="keyFile"/>; fails the test otherwise.</summary>
    public static async Task<IReadOnlyDictionary<string, object>> ValidateAsync(string token, string keyFile)
    {
        var options = new ShoppeSecurityOptions();
        var result = await new JsonWebTokenHandler().ValidateTokenAsync(token, new TokenValidationParameters
        {
            ValidIssuer = options.Issuer,
            ValidAudience = options.Audience,
            IssuerSigningKey = LocalSigningKey.LoadOrCreate(keyFile),
        });
        Assert.True(result.IsValid, $"the token does not validate with {keyFile}: {result.Exception?.Message}");
        return result.Claims.AsReadOnly();
    }
}
