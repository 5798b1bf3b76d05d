using System.Globalization;
using System.Text;
using System.Text.Json;
using Shoppe.Portal.Requests;
using Shoppe.Portal.SignIn;
using Shoppe.ServiceDefaults.RequestIds;

namespace Shoppe.Portal.Apis;

/// <summary>
/// The live parts of a request's page, for its script: the request's logs as Server-Sent Events (the logs service's
/// stream, called with the user's own token), its progress as events until it ends, and its outputs to download.
/// </summary>
internal static class RequestsApi
{
    private static readonly TimeSpan ProgressEvery = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan LiveAtMost = TimeSpan.FromHours(1);
    private static readonly TimeSpan FirstLineEvery = TimeSpan.FromSeconds(1);

    public static IEndpointRouteBuilder MapRequestsApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/requests/{kind}/{id}").RequireAuthorization();
        group.MapGet("/logs/live", LogsAsync).WithName("FollowRequestLogs").WithSummary("The request's new log lines as Server-Sent Events");
        group.MapGet("/progress/live", ProgressAsync).WithName("FollowRequestProgress").WithSummary("The request's state and progress as Server-Sent Events, until it ends");
        group.MapGet("/files/{index:int}", DownloadAsync).WithName("DownloadRequestOutput").WithSummary("One output of a delivery");
        return routes;
    }

    private static void StartEvents(HttpResponse response)
    {
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
    }

    private static Microsoft.AspNetCore.Http.HttpResults.ProblemHttpResult? Check(string kind, string id) =>
        !RequestKinds.All.Contains(kind)
            ? TypedResults.Problem(statusCode: 404, title: "Unknown kind of request", detail: $"There are {string.Join(", ", RequestKinds.All)} requests.")
            : !RequestId.IsValid(id)
                ? TypedResults.Problem(statusCode: 400, title: "Invalid request id", detail: "That is not a request id.")
                : null;

    private static async Task LogsAsync(HttpContext context, string kind, string id, string? level, string? service, string? q, string? cursor, FacilityClient facility, CancellationToken cancellationToken)
    {
        if (Check(kind, id) is { } problem)
        {
            await problem.ExecuteAsync(context);
            return;
        }

        var query = new StringBuilder($"v1/requests/{Uri.EscapeDataString(id)}/logs?follow=true");
        foreach (var (name, value) in new[] { ("level", level), ("service", service), ("q", q), ("cursor", cursor ?? context.Request.Headers["Last-Event-ID"].ToString()) })
        {
            if (!string.IsNullOrEmpty(value))
            {
                query.Append('&').Append(name).Append('=').Append(Uri.EscapeDataString(value));
            }
        }

        // A request's first lines arrive some seconds after it is submitted (services export in batches): until the logs
        // service has one it answers 404, and until it has the request's own first line (which names its user) maybe
        // 403, as the lines of the services it called come first. The stream waits through both rather than ending (a
        // browser's EventSource does not reconnect after an error status), for a request its own service says is the
        // reader's.
        var token = (await PortalSignInService.TokenAsync(context))!;
        using (var status = await facility.GetVisibleAsync(kind, id, token, cancellationToken))
        {
            if (status is null)
            {
                await TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "No such request", detail: $"You have no {kind} {id}.").ExecuteAsync(context);
                return;
            }
        }

        HttpResponseMessage? upstream = null;
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(LiveAtMost);
        try
        {
            while (upstream is null)
            {
                try
                {
                    upstream = await facility.SendAsync("logs", query.ToString(), token, HttpCompletionOption.ResponseHeadersRead, limit.Token, "text/event-stream");
                }
                catch (ServiceCallException ex) when (ex.Status is System.Net.HttpStatusCode.NotFound or System.Net.HttpStatusCode.Forbidden)
                {
                    if (!context.Response.HasStarted)
                    {
                        StartEvents(context.Response);
                    }

                    await context.Response.WriteAsync(": no line of yours yet\n\n", limit.Token);
                    await context.Response.Body.FlushAsync(limit.Token);
                    await Task.Delay(FirstLineEvery, limit.Token);
                }
            }
        }
        catch (ServiceCallException ex)
        {
            if (context.Response.HasStarted)
            {
                await context.Response.WriteAsync($"event: failed\ndata: {JsonSerializer.Serialize(ex.Detail)}\n\n", cancellationToken);
            }
            else
            {
                await TypedResults.Problem(statusCode: (int)ex.Status, title: "The logs service refused", detail: ex.Detail).ExecuteAsync(context);
            }

            return;
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or HttpRequestException)
        {
            return; // the reader left, the hour is up, or the logs service is away: the script reconnects
        }

        using (upstream)
        {
            if (!context.Response.HasStarted)
            {
                StartEvents(context.Response);
            }

            await using var body = await upstream.Content.ReadAsStreamAsync(cancellationToken);
            var buffer = new byte[16 * 1024];
            try
            {
                int read;
                while ((read = await body.ReadAsync(buffer, cancellationToken)) > 0)
                {
                    await context.Response.Body.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                    await context.Response.Body.FlushAsync(cancellationToken);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or HttpRequestException)
            {
                // the reader left, or the logs service ended the stream: the script reconnects from its last id
            }
        }
    }

    private static async Task ProgressAsync(HttpContext context, string kind, string id, FacilityClient facility, TimeProvider time, CancellationToken cancellationToken)
    {
        if (Check(kind, id) is { } problem)
        {
            await problem.ExecuteAsync(context);
            return;
        }

        var token = (await PortalSignInService.TokenAsync(context))!;
        StartEvents(context.Response);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(LiveAtMost);
        try
        {
            while (true)
            {
                using var status = await facility.GetAsync(kind, id, token, limit.Token);
                if (status is null)
                {
                    await context.Response.WriteAsync("event: gone\ndata: {}\n\n", limit.Token);
                    return;
                }

                var row = RequestRow.From(kind, status.RootElement);
                var data = JsonSerializer.Serialize(new ProgressEvent(row.State, row.Progress, row.Fraction, row.IsFinished), PortalRequestsJsonContext.Default.ProgressEvent);
                await context.Response.WriteAsync($"event: progress\ndata: {data}\n\n", limit.Token);
                await context.Response.Body.FlushAsync(limit.Token);
                if (row.IsFinished)
                {
                    return;
                }

                await Task.Delay(ProgressEvery, time, limit.Token);
            }
        }
        catch (OperationCanceledException)
        {
            // the reader left, or an hour passed: the script reconnects if it is still there
        }
        catch (ServiceCallException ex)
        {
            await context.Response.WriteAsync($"event: failed\ndata: {JsonSerializer.Serialize(ex.Detail, PortalRequestsJsonContext.Default.String)}\n\n", CancellationToken.None);
        }
    }

    private static async Task DownloadAsync(HttpContext context, string kind, string id, int index, FacilityClient facility, CancellationToken cancellationToken)
    {
        var refused = Check(kind, id) ?? (kind != RequestKinds.Delivery
            ? TypedResults.Problem(statusCode: 404, title: "No outputs", detail: "Only deliveries have outputs to download.")
            : null);
        if (refused is not null)
        {
            await refused.ExecuteAsync(context);
            return;
        }

        HttpResponseMessage upstream;
        try
        {
            upstream = await facility.SendAsync("delivery", $"v1/transforms/{Uri.EscapeDataString(id)}/files/{index.ToString(CultureInfo.InvariantCulture)}",
                (await PortalSignInService.TokenAsync(context))!, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        }
        catch (ServiceCallException ex)
        {
            await TypedResults.Problem(statusCode: (int)ex.Status, title: "The delivery service refused", detail: ex.Detail).ExecuteAsync(context);
            return;
        }

        using (upstream)
        {
            context.Response.ContentType = upstream.Content.Headers.ContentType?.ToString() ?? "application/octet-stream";
            context.Response.ContentLength = upstream.Content.Headers.ContentLength;
            if (upstream.Content.Headers.ContentDisposition is { } disposition)
            {
                context.Response.Headers.ContentDisposition = disposition.ToString();
            }

            await upstream.Content.CopyToAsync(context.Response.Body, cancellationToken);
        }
    }
}

/// <summary>One progress event of a request's page.</summary>
public sealed record ProgressEvent(string State, string Progress, double? Fraction, bool Finished);

[System.Text.Json.Serialization.JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[System.Text.Json.Serialization.JsonSerializable(typeof(ProgressEvent))]
[System.Text.Json.Serialization.JsonSerializable(typeof(string))]
internal sealed partial class PortalRequestsJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
