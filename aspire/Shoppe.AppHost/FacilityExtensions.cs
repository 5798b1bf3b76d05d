using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Shoppe.Security;

namespace Shoppe.AppHost;

/// <summary>The one-machine facility's shared settings: where data lives, the local signing key, and the discovery file.</summary>
/// <param name="DataRoot">Each service keeps its state in a folder of its own under this one.</param>
/// <param name="SigningKeyFile">The local token signing key every service validates with (and the CLI mints with).</param>
/// <param name="FacilityFile">Where the facility says, once up, where it is (<see cref="LocalFacility"/>), for the CLI.</param>
internal sealed record Facility(string DataRoot, string SigningKeyFile, string FacilityFile)
{
    /// <summary>
    /// The portal account made on the first start: the machine's user, else
    /// "physicist" where that name is not a valid user name.
    /// </summary>
    public static string PortalUser => ShoppeClaims.IsValidName(Environment.UserName) ? Environment.UserName : "physicist";

    /// <summary>How long the service tokens minted at start-up live; a restart mints new ones.</summary>
    public static readonly TimeSpan ServiceTokenLifetime = TimeSpan.FromDays(30);

    /// <summary>
    /// From <c>Shoppe:DataRoot</c> (e.g. <c>dotnet run --project aspire/Shoppe.AppHost -- --Shoppe:DataRoot=/scratch/shoppe</c>);
    /// by default <c>~/.local/share/coffea-shoppe</c>. The facility file from <c>Shoppe:FacilityFile</c>, else
    /// <c>$SHOPPE_FACILITY_FILE</c>, else <c>~/.local/share/coffea-shoppe/facility.json</c>, where the <c>shoppe</c> CLI looks.
    /// </summary>
    public static Facility FromConfiguration(IConfiguration configuration)
    {
        var configured = configuration["Shoppe:DataRoot"];
        var root = Path.GetFullPath(string.IsNullOrWhiteSpace(configured)
            ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.DoNotVerify), "coffea-shoppe")
            : configured);
        var facilityFile = LocalFacility.ResolveFile(configuration["Shoppe:FacilityFile"] is { Length: > 0 } file ? file : Environment.GetEnvironmentVariable(LocalFacility.FileVariable));
        return new Facility(root, Path.Combine(root, "keys", "signing.key"), facilityFile);
    }

    /// <summary>
    /// Copies the repository's NanoAOD samples (conformance/data/nanoaod, with their licence) into the origin
    /// folder (once; a user's edits stay) and returns their paths under the cache, as the delivery service names them.
    /// </summary>
    public static IReadOnlyList<string> SeedSamples(string source, string origin)
    {
        var target = Directory.CreateDirectory(Path.Combine(origin, "nanoaod")).FullName;
        var paths = new List<string>();
        foreach (var file in Directory.GetFiles(source).Order(StringComparer.Ordinal))
        {
            var copy = Path.Combine(target, Path.GetFileName(file));
            if (!File.Exists(copy))
            {
                File.Copy(file, copy);
            }

            if (file.EndsWith(".parquet", StringComparison.Ordinal))
            {
                paths.Add("/nanoaod/" + Path.GetFileName(file));
            }
        }

        return paths;
    }

    /// <summary>A token for one of the facility's own services.</summary>
    /// <summary>A token for the facility's own workflow pilots: they run any user's jobs.</summary>
    public string PilotToken() =>
        new TokenIssuer(new ShoppeSecurityOptions { SigningKeyFile = SigningKeyFile }, TimeProvider.System)
            .Issue("local-pilot", [ShoppeClaims.PilotRole], ServiceTokenLifetime);

    public string ServiceToken(string service) =>
        new TokenIssuer(new ShoppeSecurityOptions { SigningKeyFile = SigningKeyFile }, TimeProvider.System)
            .Issue(service, [ShoppeClaims.ServiceRole], ServiceTokenLifetime);
}

/// <summary>How every Coffea Shoppe service is wired into the one-machine facility.</summary>
internal static partial class FacilityExtensions
{
    /// <summary>
    /// Adds one service with the facility's defaults: its own data folder, the shared signing key, and
    /// readiness from <c>/health</c>.
    /// </summary>
    public static IResourceBuilder<ProjectResource> AddShoppeService<TProject>(this IDistributedApplicationBuilder builder, string name, Facility facility)
        where TProject : IProjectMetadata, new() =>
        builder.AddProject<TProject>(name)
            .FromBuildOutput()
            .WithEnvironment("Shoppe__DataRoot", Path.Combine(facility.DataRoot, name))
            .WithEnvironment("Shoppe__Security__SigningKeyFile", facility.SigningKeyFile)
            .WithHttpHealthCheck("/health");

    /// <summary>
    /// Sends the service's OpenTelemetry logs to the logs service too (beside the dashboard), with a
    /// service token, so users can read them back by request id.
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithLogsExport(this IResourceBuilder<ProjectResource> service, IResourceBuilder<ProjectResource> logs, Facility facility) =>
        service
            .WithEnvironment("Shoppe__Logs__Endpoint", logs.GetEndpoint("http"))
            .WithEnvironment("Shoppe__Logs__Token", facility.ServiceToken(service.Resource.Name))
            .WithReference(logs);

    /// <summary>Says where the facility is, once every service is ready: in the log, and in the facility file the CLI reads.</summary>
    public static void AnnounceWhenReady(this IDistributedApplicationBuilder builder, IResourceBuilder<ProjectResource> portal, Facility facility, params IResourceBuilder<ProjectResource>[] services)
    {
        var waiting = services.Length;
        foreach (var service in services)
        {
            service.OnResourceReady((_, ready, _) =>
            {
                if (Interlocked.Decrement(ref waiting) == 0)
                {
                    var logger = ready.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Shoppe.Facility");
                    var url = portal.Resource.GetEndpoint("http").Url;
                    LogReady(logger, services.Length, url, facility.DataRoot);
                    var passwordFile = Path.Combine(facility.DataRoot, "portal", Facility.PortalUser + ".password");
                    LogSignIn(logger, Facility.PortalUser, passwordFile);
                    var urls = services.ToDictionary(s => s.Resource.Name, s => s.Resource.GetEndpoint("http").Url, StringComparer.Ordinal);
                    try
                    {
                        new LocalFacility(facility.DataRoot, facility.SigningKeyFile, urls, DateTimeOffset.UtcNow).Write(facility.FacilityFile);
                        LogFacilityFile(logger, facility.FacilityFile);
                    }
                    catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                    {
                        // The facility runs on; the CLI then needs --key-file (it says so).
                        LogFacilityFileFailed(logger, facility.FacilityFile, ex);
                    }
                }

                return Task.CompletedTask;
            });
        }
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information,
        Message = "Coffea Shoppe is up: {Count} services healthy. Portal: {PortalUrl}  Data: {DataRoot}  (the dashboard's login link is printed above)")]
    private static partial void LogReady(ILogger logger, int count, string portalUrl, string dataRoot);

    [LoggerMessage(EventId = 4, Level = LogLevel.Information, Message = "Sign in to the portal as {User}: the password is in {PasswordFile} (made on the facility's first start)")]
    private static partial void LogSignIn(ILogger logger, string user, string passwordFile);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "The shoppe CLI finds this facility (its signing key and service URLs) through {FacilityFile}")]
    private static partial void LogFacilityFile(ILogger logger, string facilityFile);

    [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "Could not write {FacilityFile}: give the shoppe CLI --key-file <data root>/keys/signing.key")]
    private static partial void LogFacilityFileFailed(ILogger logger, string facilityFile, Exception exception);
}
