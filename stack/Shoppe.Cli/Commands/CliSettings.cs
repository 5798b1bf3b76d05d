namespace Shoppe.Cli.Commands;

/// <summary>Where the CLI finds the facility and the user's token when options do not say.</summary>
internal static class CliSettings
{
    /// <summary>The logs service of the one-machine facility.</summary>
    public const string DefaultLogsUrl = "http://127.0.0.1:5106";

    /// <summary>The file <c>shoppe token issue --save</c> writes and every command reads.</summary>
    public static string TokenFile => Path.Combine(
        Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".config", "coffea-shoppe", "token");

    /// <summary>The token from the option, else <c>SHOPPE_TOKEN</c>, else the token file.</summary>
    public static string? ResolveToken(string? option)
    {
        if (!string.IsNullOrWhiteSpace(option))
        {
            return option.Trim();
        }

        var env = Environment.GetEnvironmentVariable("SHOPPE_TOKEN");
        if (!string.IsNullOrWhiteSpace(env))
        {
            return env.Trim();
        }

        return File.Exists(TokenFile) ? File.ReadAllText(TokenFile).Trim() : null;
    }

    /// <summary>The URL from the option, else the environment variable, else the default.</summary>
    public static Uri ResolveUrl(string? option, string variable, string fallback)
    {
        var text = !string.IsNullOrWhiteSpace(option) ? option : Environment.GetEnvironmentVariable(variable) is { Length: > 0 } env ? env : fallback;
        return Uri.TryCreate(text, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)
            ? uri
            : throw new ArgumentException($"'{text}' is not an http(s) URL.");
    }
}
