using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Shoppe.AppHost;

/// <summary>How every Coffea Shoppe service is wired into the one-machine facility.</summary>
internal static partial class FacilityExtensions
{
    /// <summary>
    /// The folder under which each service keeps its state (<c>Shoppe:DataRoot</c>, e.g.
    /// <c>dotnet run --project aspire/Shoppe.AppHost -- --Shoppe:DataRoot=/scratch/shoppe</c>);
    /// by default <c>~/.local/share/coffea-shoppe</c>.
    /// </summary>
    public static string ResolveDataRoot(this IConfiguration configuration)
    {
        var configured = configuration["Shoppe:DataRoot"];
        var root = string.IsNullOrWhiteSpace(configured)
            ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.DoNotVerify), "coffea-shoppe")
            : configured;
        return Path.GetFullPath(root);
    }

    /// <summary>
    /// Adds one service with the facility's defaults: its own data folder under the data root, readiness
    /// from <c>/health</c>, and its endpoint on loopback.
    /// </summary>
    public static IResourceBuilder<ProjectResource> AddShoppeService<TProject>(this IDistributedApplicationBuilder builder, string name, string dataRoot)
        where TProject : IProjectMetadata, new()
    {
        var dataFolder = Path.Combine(dataRoot, name);
        return builder.AddProject<TProject>(name)
            .WithEnvironment("Shoppe__DataRoot", dataFolder)
            .WithHttpHealthCheck("/health");
    }

    /// <summary>Says where the facility is, once the portal is ready.</summary>
    public static IResourceBuilder<ProjectResource> AnnounceWhenReady(this IResourceBuilder<ProjectResource> portal, string dataRoot)
    {
        portal.OnResourceReady((resource, ready, cancellationToken) =>
        {
            var logger = ready.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Shoppe.Facility");
            var url = resource.GetEndpoint("http").Url;
            LogReady(logger, url, dataRoot);
            return Task.CompletedTask;
        });
        return portal;
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information,
        Message = "Coffea Shoppe is up. Portal: {PortalUrl}  Data: {DataRoot}  (the dashboard's login link is printed above)")]
    private static partial void LogReady(ILogger logger, string portalUrl, string dataRoot);
}
