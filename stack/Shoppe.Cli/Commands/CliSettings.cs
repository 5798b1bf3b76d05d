using Spectre.Console;

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

    /// <summary>
    /// An HTTP client for one of the facility's services, with the user's token, or null after printing why not
    /// (a bad URL, no token): the caller then exits with 2.
    /// </summary>
    public static HttpClient? CreateClient(IAnsiConsole console, HttpMessageHandler? handler, string? urlOption, string urlVariable, string defaultUrl, string? tokenOption, TimeSpan timeout)
    {
        Uri baseUri;
        try
        {
            baseUri = ResolveUrl(urlOption, urlVariable, defaultUrl);
        }
        catch (ArgumentException ex)
        {
            console.MarkupLineInterpolated($"[red]error:[/] {ex.Message}");
            return null;
        }

        var bearer = ResolveToken(tokenOption);
        if (bearer is null)
        {
            console.MarkupLine("[red]error:[/] no token: run [bold]shoppe token issue --user NAME --save[/] or set SHOPPE_TOKEN.");
            return null;
        }

        var http = handler is null ? new HttpClient() : new HttpClient(handler, disposeHandler: false);
        http.BaseAddress = baseUri;
        http.Timeout = timeout;
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", bearer);
        return http;
    }
}
