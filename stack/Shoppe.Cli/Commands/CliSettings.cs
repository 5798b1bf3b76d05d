using System.Diagnostics.CodeAnalysis;
using Shoppe.Security;
using Spectre.Console;

namespace Shoppe.Cli.Commands;

/// <summary>
/// Where the CLI finds the facility and the user's token when options do not say. Each setting is looked up in one
/// order: the option, else its environment variable, else the facility file the AppHost writes when the facility is up
/// (<see cref="LocalFacility"/>), else the one-machine facility's default.
/// </summary>
/// <param name="environment">The environment variables (the process's; a test's own).</param>
/// <param name="defaultFacilityFile">The facility file when <c>$SHOPPE_FACILITY_FILE</c> is not set.</param>
/// <param name="defaultSigningKeyFile">The signing key when nothing names one.</param>
internal sealed class CliSettings(Func<string, string?> environment, string defaultFacilityFile, string defaultSigningKeyFile)
{
    /// <summary>The logs service of the one-machine facility.</summary>
    public const string DefaultLogsUrl = "http://127.0.0.1:5106";

    /// <summary>The variable that names the signing key, after <c>--key-file</c>.</summary>
    public const string KeyFileVariable = "SHOPPE_KEY_FILE";

    /// <summary>The file <c>shoppe token issue --save</c> writes and every command reads.</summary>
    public static string TokenFile => Path.Combine(
        Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".config", "coffea-shoppe", "token");

    /// <summary>This process's environment and the user's files.</summary>
    public static CliSettings FromProcess() =>
        new(Environment.GetEnvironmentVariable, LocalFacility.DefaultFile, ShoppeSecurityOptions.DefaultSigningKeyFile);

    /// <summary>The facility file in effect: <c>$SHOPPE_FACILITY_FILE</c>, else the per-user one.</summary>
    public string FacilityFile => LocalFacility.ResolveFile(Variable(LocalFacility.FileVariable) ?? defaultFacilityFile);

    /// <summary>The token from the option, else <c>SHOPPE_TOKEN</c>, else the token file.</summary>
    public string? ResolveToken(string? option)
    {
        if (!string.IsNullOrWhiteSpace(option))
        {
            return option.Trim();
        }

        return Variable("SHOPPE_TOKEN") ?? (File.Exists(TokenFile) ? File.ReadAllText(TokenFile).Trim() : null);
    }

    /// <summary>The URL of <paramref name="service"/> from the option, else the environment variable, else the facility file, else the default.</summary>
    /// <exception cref="ArgumentException">The URL is not http(s), or the facility file is broken.</exception>
    public Uri ResolveUrl(string? option, string variable, string service, string fallback)
    {
        var text = !string.IsNullOrWhiteSpace(option) ? option : Variable(variable) ?? DiscoveredUrl(service) ?? fallback;
        return Uri.TryCreate(text, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)
            ? uri
            : throw new ArgumentException($"'{text}' is not an http(s) URL.");
    }

    /// <summary>
    /// The facility's signing key: <c>--key-file</c>, else <c>$SHOPPE_KEY_FILE</c>, else the one the facility file
    /// names, else the one-machine default. The CLI never creates a key (tokens signed with a key no facility holds are
    /// refused everywhere): a missing one is an error that says where it looked and what to pass.
    /// </summary>
    public bool TryResolveSigningKey(string? option, [NotNullWhen(true)] out string? path, [NotNullWhen(false)] out string? error)
    {
        string source;
        if (!string.IsNullOrWhiteSpace(option))
        {
            (path, source) = (Path.GetFullPath(option.Trim()), "--key-file");
        }
        else if (Variable(KeyFileVariable) is { } variable)
        {
            (path, source) = (Path.GetFullPath(variable), $"${KeyFileVariable}");
        }
        else
        {
            LocalFacility? facility;
            try
            {
                facility = LocalFacility.Read(FacilityFile);
            }
            catch (InvalidOperationException ex)
            {
                (path, error) = (null, $"{ex.Message} Remove it, or pass --key-file FILE or set {KeyFileVariable}.");
                return false;
            }

            (path, source) = facility is null
                ? (defaultSigningKeyFile, $"the default: no facility file at {FacilityFile}")
                : (facility.SigningKeyFile, $"the facility file {FacilityFile}, for the facility with data root {facility.DataRoot}");
        }

        if (File.Exists(path))
        {
            error = null;
            return true;
        }

        error = $"no signing key at {path} ({source}). Pass --key-file FILE or set {KeyFileVariable} to the key of the "
                + "facility you use (<data root>/keys/signing.key, created when the facility starts), or start the facility.";
        path = null;
        return false;
    }

    /// <summary>
    /// An HTTP client for one of the facility's services, with the user's token, or null after printing why not
    /// (a bad URL, no token): the caller then exits with 2.
    /// </summary>
    public HttpClient? CreateClient(IAnsiConsole console, HttpMessageHandler? handler, string? urlOption, string urlVariable, string service, string defaultUrl, string? tokenOption, TimeSpan timeout)
    {
        Uri baseUri;
        try
        {
            baseUri = ResolveUrl(urlOption, urlVariable, service, defaultUrl);
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

    private string? Variable(string name) => environment(name) is { } value && !string.IsNullOrWhiteSpace(value) ? value.Trim() : null;

    private string? DiscoveredUrl(string service)
    {
        try
        {
            return LocalFacility.Read(FacilityFile)?.Services.GetValueOrDefault(service);
        }
        catch (InvalidOperationException ex)
        {
            throw new ArgumentException($"{ex.Message} Remove it, or pass --url.", ex);
        }
    }
}
