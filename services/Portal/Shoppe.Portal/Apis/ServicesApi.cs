using Microsoft.AspNetCore.Http.HttpResults;
using Shoppe.Portal.Health;

namespace Shoppe.Portal.Apis;

/// <summary>The facility's services as the portal sees them, for scripts and the page alike.</summary>
internal static class ServicesApi
{
    public static IEndpointRouteBuilder MapServicesApi(this IEndpointRouteBuilder routes)
    {
        var api = routes.MapGroup("/api");
        api.MapGet("/services", GetServicesAsync)
            .WithName("GetServices")
            .WithSummary("Health and version of every service of the facility.");
        return routes;
    }

    private static async Task<Ok<IReadOnlyList<ServiceStatus>>> GetServicesAsync(ServiceDirectory directory, CancellationToken cancellationToken) =>
        TypedResults.Ok(await directory.ProbeAllAsync(cancellationToken));
}
