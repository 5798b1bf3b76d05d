using System.Text.Json;
using Shoppe.Security;
using Shoppe.Workflow.Pilots;
using Shoppe.Workflow.Scheduling;

namespace Shoppe.Workflow.Apis;

/// <summary>
/// <c>GET /v1/pilots/demand</c>: the counts of pilot jobs ready and running, for an autoscaler (pilot, service, operator tokens).
/// <c>POST /v1/pilots/exchange</c>: a pilot reports, heartbeats and takes jobs in one call. A token with the
/// <c>pilot</c> (or <c>service</c>, <c>operator</c>) role takes any user's jobs; any other user's token, only that
/// user's. With nothing to give, the call waits (long poll) up to the pilot's <c>waitSeconds</c> (at most 30 s) for
/// jobs to become ready, so a warm pilot starts a job within milliseconds of its release.
/// </summary>
internal static class PilotsApi
{
    private const int MaxBodyBytes = 32 * 1024 * 1024;

    public static IEndpointRouteBuilder MapPilotsApi(this IEndpointRouteBuilder routes)
    {
        routes.MapPost("/v1/pilots/exchange", ExchangeAsync).RequireAuthorization(ShoppeClaims.UserPolicy)
            .WithName("PilotExchange").WithSummary("Report, heartbeat and take jobs").WithMetadata(new Microsoft.AspNetCore.Mvc.RequestSizeLimitAttribute(MaxBodyBytes));
        routes.MapGet("/v1/pilots/demand", DemandAsync).RequireAuthorization(ShoppeClaims.UserPolicy)
            .WithName("PilotDemand").WithSummary("The jobs pilots run, ready and running (every user's): what a site's autoscaler sizes its pilots by");
        return routes;
    }

    /// <summary>Whether the caller runs jobs for the facility (any user's), rather than a user running their own.</summary>
    private static bool IsFabric(System.Security.Claims.ClaimsPrincipal user) =>
        user.HasClaim(ShoppeClaims.Role, ShoppeClaims.PilotRole) || user.HasClaim(ShoppeClaims.Role, ShoppeClaims.ServiceRole) || user.IsOperator();

    private static async Task<IResult> DemandAsync(HttpContext context, Engine engine, CancellationToken cancellationToken) =>
        IsFabric(context.User)
            ? TypedResults.Json(await engine.PilotDemandAsync(cancellationToken), PilotJsonContext.Default.PilotDemand)
            : TypedResults.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Not a pilot",
                detail: "The demand counts every user's jobs: it is for pilot, service and operator tokens.");

    private static async Task<IResult> ExchangeAsync(HttpContext context, Engine engine, CancellationToken cancellationToken)
    {
        PilotExchange? exchange;
        try
        {
            exchange = await JsonSerializer.DeserializeAsync(new Shoppe.Http.ReadLimitStream(context.Request.Body, MaxBodyBytes), PilotJsonContext.Default.PilotExchange, cancellationToken);
        }
        catch (JsonException ex)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Invalid exchange", detail: ex.Message);
        }

        if (exchange is null || string.IsNullOrWhiteSpace(exchange.Pilot) || exchange.Pilot.Length > 200 || exchange.Want is < 0 or > 100_000 || exchange.WantInstant is < 0 or > 100_000
            || exchange.Running is null || exchange.Results is null)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Invalid exchange", detail: "An exchange names its pilot (1-200 characters), wants 0-100000 jobs, and lists running and results (maybe empty).");
        }

        var user = context.User;
        var owner = IsFabric(user) ? null : user.UserName();
        var assignment = await engine.ExchangeAsync(exchange, owner, cancellationToken);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(Math.Clamp(exchange.WaitSeconds, 0, 30));
        while (assignment.Jobs.Count == 0 && assignment.Stop.Count == 0 && (exchange.Want > 0 || exchange.WantInstant > 0) && DateTime.UtcNow < deadline && !cancellationToken.IsCancellationRequested)
        {
            // Woken when this instance makes jobs ready; every 250 ms it looks anyway (another instance may have).
            var left = deadline - DateTime.UtcNow;
            await Task.WhenAny(engine.JobsReady, Task.Delay(left < TimeSpan.FromMilliseconds(250) ? left : TimeSpan.FromMilliseconds(250), cancellationToken));
            assignment = await engine.ExchangeAsync(exchange with { Results = [], Released = null, Output = null, Running = [] }, owner, cancellationToken) is { } again
                ? again with { Stop = assignment.Stop, Rejected = assignment.Rejected } : assignment;
        }

        return TypedResults.Json(assignment, PilotJsonContext.Default.PilotAssignment);
    }
}
