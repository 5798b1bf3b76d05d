using System.Security.Claims;
using System.Text.Json;
using Shoppe.Security;
using Shoppe.Security.Remotes;
using Shoppe.ServiceDefaults.RequestIds;
using Shoppe.Transfer.Queue;

namespace Shoppe.Transfer.Apis;

/// <summary>
/// <c>/v1/transfers</c>: queued third-party copies between any two HTTP-TPC endpoints, with status and history
/// (docs/transfer.md). A user sees only their own; operators see all.
/// </summary>
public static class TransfersApi
{
    public static IEndpointRouteBuilder MapTransfersApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/v1/transfers").RequireAuthorization(ShoppeClaims.UserPolicy);
        group.MapPost("", SubmitAsync).WithName("SubmitTransfer").WithSummary("Queue a third-party copy");
        group.MapGet("", List).WithName("ListTransfers").WithSummary("The caller's copies, newest first");
        group.MapGet("/{id}", Get).WithName("GetTransfer").WithSummary("A copy's state, attempts and bytes");
        return routes;
    }

    private static Microsoft.AspNetCore.Http.HttpResults.ProblemHttpResult Problem(int status, string title, string detail) => TypedResults.Problem(statusCode: status, title: title, detail: detail);

    private static async Task<IResult> SubmitAsync(HttpContext context, TransferScheduler queue, TransferJobs jobs, RemotePolicy policy, CancellationToken cancellationToken)
    {
        TransferRequest? request;
        try
        {
            request = await JsonSerializer.DeserializeAsync(context.Request.Body, TransferJsonContext.Default.TransferRequest, cancellationToken);
        }
        catch (JsonException ex)
        {
            return Problem(400, "Malformed request", $"The body is not a transfer request: {ex.Message}");
        }

        if (request is null || !IsHttp(request.Source) || !IsHttp(request.Destination))
        {
            return Problem(400, "Bad transfer", "'source' and 'destination' must both be http(s) URLs of files.");
        }

        if ((policy.Check(new Uri(request.Source!)) ?? policy.Check(new Uri(request.Destination!))) is { } refusal)
        {
            return Problem(403, "Remote not allowed", refusal);
        }

        var id = RequestId.Current ?? RequestId.NewId();
        if (jobs.Get(id) is not null)
        {
            return Problem(409, "Request id in use", $"A transfer with request id {id} exists; send a new X-Shoppe-Request-Id or none.");
        }

        var (size, error) = await queue.ProbeAsync(request.Source!, request.SourceToken, cancellationToken);
        if (error is not null)
        {
            return Problem(422, "Unreadable source", error);
        }

        var job = new TransferJob(id, context.User.UserName()!, request.Source!, request.Destination!, request.VerifyChecksum, "queued", 0, 0, size, null, DateTimeOffset.UtcNow, null, null);
        if (!queue.TryEnqueue(job, request.SourceToken, request.DestinationToken))
        {
            return Problem(409, "Request id in use", $"A transfer with request id {id} exists; send a new X-Shoppe-Request-Id or none.");
        }

        return TypedResults.Created($"/v1/transfers/{id}", job);
    }

    private static bool IsHttp(string? url) =>
        url is { Length: < 4096 } && Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https";

    private static Microsoft.AspNetCore.Http.HttpResults.JsonHttpResult<TransferJob[]> List(ClaimsPrincipal user, TransferJobs jobs, TransferScheduler queue, int? limit) =>
        TypedResults.Json(jobs.List(user.IsOperator() ? null : user.UserName(), Math.Clamp(limit ?? 100, 1, 1000)).Select(j => Live(j, queue)).ToArray(), TransferJsonContext.Default.TransferJobArray);

    private static IResult Get(ClaimsPrincipal user, string id, TransferJobs jobs, TransferScheduler queue)
    {
        var job = jobs.Get(id);
        if (job is null)
        {
            return Problem(404, "Unknown transfer", $"There is no transfer {(id.Length > 128 ? id[..128] : id)}.");
        }

        return !user.IsOperator() && job.Owner != user.UserName()
            ? Problem(403, "Not your transfer", $"Transfer {id} belongs to another user.")
            : TypedResults.Json(Live(job, queue), TransferJsonContext.Default.TransferJob);
    }

    /// <summary>A running copy's bytes come from its latest marker, not the store.</summary>
    private static TransferJob Live(TransferJob job, TransferScheduler queue) =>
        job.State == "running" && queue.Progress(job.RequestId) is { } bytes ? job with { Bytes = bytes } : job;
}
