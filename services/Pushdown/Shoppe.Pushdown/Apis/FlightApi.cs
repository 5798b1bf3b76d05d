using Apache.Arrow.Flight.Server;
using Shoppe.Pushdown.Flight;
using Shoppe.Security;

namespace Shoppe.Pushdown.Apis;

/// <summary>Arrow Flight: the Flight service (<see cref="PushdownFlightServer"/>) and its PollFlightInfo (<see cref="PollService"/>), for signed-in users.</summary>
public static class FlightApi
{
    public static IEndpointRouteBuilder MapFlightApi(this IEndpointRouteBuilder routes)
    {
        routes.MapFlightEndpoint().RequireAuthorization(ShoppeClaims.UserPolicy);
        // Apache.Arrow.Flight maps PollFlightInfo as unimplemented; this route, for the same method, goes first.
        routes.MapGrpcService<PollService>().RequireAuthorization(ShoppeClaims.UserPolicy)
            .Add(endpoint => ((RouteEndpointBuilder)endpoint).Order = -1);
        return routes;
    }
}
