using System.CommandLine;
using System.Globalization;
using Shoppe.Security;
using Spectre.Console;

namespace Shoppe.Cli.Commands;

/// <summary>
/// <c>shoppe token issue --user NAME [--operator|--pilot|--service] [--scope storage.read:/ ...]</c>: mint a token with
/// the facility's signing key: for local use, or a site's pilot and service tokens (docs/deploy.md).
/// </summary>
internal static class TokenCommand
{
    public static Command Build(IAnsiConsole console, CliSettings settings)
    {
        var user = new Option<string>("--user") { Description = "The user the token is for.", Required = true };
        var op = new Option<bool>("--operator") { Description = "Give the token the operator role (reads every request)." };
        var pilot = new Option<bool>("--pilot") { Description = "Give the token the pilot role: a workflow pilot that runs any user's jobs (shoppe pilot)." };
        var service = new Option<bool>("--service")
        {
            Description = "Give the token the service role: a facility service's own (exporting its records to the logs service, delivery reading through the cache); --user names the service.",
        };
        var scope = new Option<string[]>("--scope")
        {
            Description = $"WLCG storage scopes for the transfer service's storage, e.g. storage.read:/ storage.modify:/data (repeat, or separate with spaces; {string.Join(", ", WlcgStorageScopes.Names)}).",
            AllowMultipleArgumentsPerToken = true,
        };
        var lifetime = new Option<string>("--lifetime") { Description = "How long the token lives: 30m, 12h, 7d.", DefaultValueFactory = _ => "12h" };
        var keyFile = new Option<string?>("--key-file") { Description = $"The facility's signing key (default: ${CliSettings.KeyFileVariable}, else the one the running facility's file names ({settings.FacilityFile}), else {ShoppeSecurityOptions.DefaultSigningKeyFile})." };
        var save = new Option<bool>("--save") { Description = $"Also write the token to {CliSettings.TokenFile}, where every shoppe command finds it." };

        var issue = new Command("issue", "Mint a token with the local signing key.") { user, op, pilot, service, scope, lifetime, keyFile, save };
        issue.SetAction(parse =>
        {
            if (!TryLifetime(parse.GetValue(lifetime)!, out var span))
            {
                console.MarkupLine("[red]error:[/] --lifetime must look like 30m, 12h or 7d.");
                return 2;
            }

            var name = parse.GetValue(user)!;
            if (!ShoppeClaims.IsValidName(name))
            {
                console.MarkupLineInterpolated($"[red]error:[/] '{name}' is not a valid user name (1-64 of A-Za-z0-9._-).");
                return 2;
            }

            if (!WlcgStorageScopes.TryParse(parse.GetValue(scope) ?? [], out var scopes, out var scopeError))
            {
                console.MarkupLineInterpolated($"[red]error:[/] --scope: {scopeError}");
                return 2;
            }

            if (!settings.TryResolveSigningKey(parse.GetValue(keyFile), out var key, out var keyError))
            {
                console.MarkupLineInterpolated($"[red]error:[/] {keyError}");
                return 2;
            }

            var roles = new List<string>();
            if (parse.GetValue(op))
            {
                roles.Add(ShoppeClaims.OperatorRole);
            }

            if (parse.GetValue(pilot))
            {
                roles.Add(ShoppeClaims.PilotRole);
            }

            if (parse.GetValue(service))
            {
                roles.Add(ShoppeClaims.ServiceRole);
            }

            string token;
            try
            {
                token = new TokenIssuer(new ShoppeSecurityOptions { SigningKeyFile = key }, TimeProvider.System).Issue(name, roles, span, scopes);
            }
            catch (InvalidOperationException ex)
            {
                // The file is there but is no key (not base64, too short).
                console.MarkupLineInterpolated($"[red]error:[/] {ex.Message}");
                return 2;
            }

            if (parse.GetValue(save))
            {
                Directory.CreateDirectory(Path.GetDirectoryName(CliSettings.TokenFile)!);
                File.WriteAllText(CliSettings.TokenFile, token);
                if (!OperatingSystem.IsWindows())
                {
                    File.SetUnixFileMode(CliSettings.TokenFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
                }
            }

            // The token alone on stdout, so `export SHOPPE_TOKEN=$(shoppe token issue --user me)` works.
            console.Profile.Out.Writer.WriteLine(token);
            return 0;
        });
        return new Command("token", "Facility tokens.") { issue };
    }

    private static bool TryLifetime(string text, out TimeSpan span)
    {
        span = default;
        if (text.Length < 2 || !int.TryParse(text.AsSpan(0, text.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n <= 0)
        {
            return false;
        }

        span = text[^1] switch { 'm' => TimeSpan.FromMinutes(n), 'h' => TimeSpan.FromHours(n), 'd' => TimeSpan.FromDays(n), _ => default };
        return span > TimeSpan.Zero && span <= TokenIssuer.MaxLifetime;
    }
}
