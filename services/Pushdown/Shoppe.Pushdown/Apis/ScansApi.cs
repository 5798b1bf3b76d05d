using System.Text.Json;
using Shoppe.Columnar.Io;
using Shoppe.Columnar.Selection;
using Shoppe.Http;
using Shoppe.Pushdown.Client;
using Shoppe.Pushdown.Joins;
using Shoppe.Pushdown.Scans;
using Shoppe.Security;
using Shoppe.ServiceDefaults.RequestIds;

namespace Shoppe.Pushdown.Apis;

/// <summary>
/// <c>/v1/scans</c>: a scan over plain HTTP for clients without gRPC. <c>POST</c> answers an Arrow IPC stream
/// (<c>application/vnd.apache.arrow.stream</c>), batch by batch as the scan runs; <c>GET /v1/scans/{id}</c> gives a
/// scan's progress and outcome to its owner (and operators). Everything that can be refused is refused before the
/// first byte, as an RFC 9457 problem; a failure once batches have gone out breaks the connection off, so a client
/// never takes a cut stream for a whole one, and the failure is in the status and the scan's logs.
/// </summary>
public static class ScansApi
{
    public static IEndpointRouteBuilder MapScansApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/v1/scans").RequireAuthorization(ShoppeClaims.UserPolicy);
        group.MapPost("", ScanAsync).WithName("Scan").WithSummary("Scan a dataset beside the data: an Arrow IPC stream of the selected columns of the passing events");
        group.MapPost("/plan", PlanAsync).WithName("PlanScan").WithSummary("Plan a scan without running it: its columns, the row groups pruned, the events and bytes it would read");
        group.MapGet("", List).WithName("ListScans").WithSummary("Your scans this node still keeps (an operator's: everyone's), newest first");
        group.MapGet("/{id}", Status).WithName("GetScan").WithSummary("A scan's progress and outcome");
        return routes;
    }

    private static async Task ScanAsync(HttpContext context, ScanService scans, Coordinator.NodeCoordinator nodes, CancellationToken cancellationToken)
    {
        if (nodes.Enabled)
        {
            await CoordinatedAsync(context, scans, nodes, cancellationToken);
            return;
        }

        var user = context.User.UserName()!;
        var requestId = RequestId.Current ?? RequestId.NewId();
        ScanSpec spec;
        ScanState state;
        ScanPlan plan;
        IDisposable? slot = null;
        ScanState? started = null;
        try
        {
            var request = await ReadAsync(context, cancellationToken);
            spec = scans.Check(request, out var description);
            slot = scans.Registry.TryEnter() ?? throw new ScanRequestException(503, "Busy", "This node runs as many scans as it may; try again shortly.");
            state = started = scans.Registry.Start(requestId, user, description);
            plan = await scans.PlanAsync(spec, state, cancellationToken);
        }
        catch (Exception ex)
        {
            // Every way out before the stream (a refusal, the client gone, the node's own failure) frees the slot
            // and ends the scan's status.
            slot?.Dispose();
            if (started is not null)
            {
                scans.Finish(started, ex);
            }

            if (Problem(ex) is { } problem)
            {
                await problem.ExecuteAsync(context);
                return;
            }

            throw;
        }

        using (slot)
        {
            context.Response.ContentType = PushdownClient.ArrowStreamType;
            context.Response.Headers[RequestId.HeaderName] = requestId;
            context.Response.Headers[PushdownClient.ScanIdHeader] = state.Id;
            context.Response.Headers["X-Shoppe-Scan-Events"] = plan.EventsToScan.ToString(System.Globalization.CultureInfo.InvariantCulture);
            context.Response.Headers["X-Shoppe-Scan-Row-Groups-Pruned"] = plan.RowGroupsPruned.ToString(System.Globalization.CultureInfo.InvariantCulture);
            await ArrowResponse.WriteAsync(context, plan.Schema, Batches(), scans, state, cancellationToken);
        }

        async IAsyncEnumerable<Apache.Arrow.RecordBatch> Batches()
        {
            foreach (var range in plan.Ranges)
            {
                await foreach (var batch in scans.RunAsync(spec, range, state, cancellationToken))
                {
                    yield return batch;
                }
            }
        }
    }

    private static async Task<IResult> PlanAsync(HttpContext context, ScanService scans, CancellationToken cancellationToken)
    {
        try
        {
            var request = await ReadAsync(context, cancellationToken);
            var spec = scans.Check(request, out var description);
            var state = new ScanState(RequestId.Current ?? RequestId.NewId(), context.User.UserName()!, description, DateTimeOffset.UtcNow);
            var plan = await scans.PlanAsync(spec, state, cancellationToken);
            var columns = plan.Schema.FieldsList.Select(f => new ScanColumn(f.Name, SchemaText.Describe(f.DataType))).ToList();
            return TypedResults.Json(new ScanPlanInfo(columns, spec.Files.Count, plan.Ranges.Count, plan.RowGroups, plan.RowGroupsPruned, plan.EventsToScan, plan.BytesToRead), PushdownJsonContext.Default.ScanPlanInfo);
        }
        catch (Exception ex) when (Problem(ex) is { } problem)
        {
            return problem;
        }
    }

    /// <summary>A scan on a coordinator: the request checked for shape here, its datasets and selection by the nodes.</summary>
    private static async Task CoordinatedAsync(HttpContext context, ScanService scans, Coordinator.NodeCoordinator nodes, CancellationToken cancellationToken)
    {
        var requestId = RequestId.Current ?? RequestId.NewId();
        IDisposable? slot = null;
        ScanRequest request;
        ScanState state;
        try
        {
            request = await ReadAsync(context, cancellationToken);
            var description = request.Dataset.ValueKind == JsonValueKind.String ? request.Dataset.GetString()! : "files";
            slot = scans.Registry.TryEnter() ?? throw new ScanRequestException(503, "Busy", "This node runs as many scans as it may; try again shortly.");
            state = scans.Registry.Start(requestId, context.User.UserName()!, description);
        }
        catch (Exception ex) when (Problem(ex) is { } problem)
        {
            slot?.Dispose();
            await problem.ExecuteAsync(context);
            return;
        }

        await Coordinator.CoordinatedScans.RunAsync(context, request, nodes, scans, state, slot, cancellationToken);
    }

    private static async Task<ScanRequest> ReadAsync(HttpContext context, CancellationToken cancellationToken)
    {
        if (context.Request.ContentLength > ScanService.MaxRequestBytes)
        {
            throw new ScanRequestException(413, "Request too large", $"A scan request may be at most {ScanService.MaxRequestBytes / (1024 * 1024)} MiB.");
        }

        try
        {
            return await JsonSerializer.DeserializeAsync(new ReadLimitStream(context.Request.Body, ScanService.MaxRequestBytes), PushdownJsonContext.Default.ScanRequest, cancellationToken)
                ?? throw new ScanRequestException(400, "Malformed request", "The body is empty.");
        }
        catch (JsonException ex)
        {
            throw new ScanRequestException(400, "Malformed request", $"The body is not a scan request: {ex.Message}");
        }
        catch (InvalidDataException)
        {
            throw new ScanRequestException(413, "Request too large", $"A scan request may be at most {ScanService.MaxRequestBytes / (1024 * 1024)} MiB.");
        }
    }

    /// <summary>The problem a refused scan answers; null for failures that are the node's own (a 500).</summary>
    internal static IResult? Problem(Exception failure) => failure switch
    {
        ScanRequestException refused => TypedResults.Problem(statusCode: refused.Status, title: refused.Title, detail: refused.Message),
        SelectionException selection => TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Bad selection",
            detail: ScanService.Describe(selection),
            extensions: new Dictionary<string, object?> { ["where"] = selection.Where, ["position"] = selection.Position + 1, ["column"] = selection.Column, ["expression"] = selection.Text }),
        JoinMismatchException mismatch => TypedResults.Problem(statusCode: StatusCodes.Status409Conflict, title: "Join does not line up", detail: mismatch.Message),
        ColumnarInputException input => TypedResults.Problem(statusCode: StatusCodes.Status422UnprocessableEntity, title: "Unreadable file", detail: input.Message),
        _ => null,
    };

    private const int MostListed = 1_000;

    private static IResult List(HttpContext context, ScanService scans, string? limit)
    {
        var count = 100;
        if (limit is not null && (!int.TryParse(limit, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out count) || count is < 1 or > MostListed))
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Invalid limit", detail: $"limit must be a whole number from 1 to {MostListed}.");
        }

        var owner = context.User.IsOperator() ? null : context.User.UserName();
        return TypedResults.Json(scans.Registry.Recent(owner, count), PushdownJsonContext.Default.IReadOnlyListScanStatus);
    }

    private static IResult Status(string id, HttpContext context, ScanService scans)
    {
        var scan = scans.Registry.Find(id);
        if (scan is null || (scan.Owner != context.User.UserName() && !context.User.IsOperator()))
        {
            // Another user's scan is not said to exist.
            return TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "No such scan", detail: $"There is no scan {id} of yours on this node (statuses are kept for a while after a scan ends).");
        }

        return TypedResults.Json(scan.Status(), PushdownJsonContext.Default.ScanStatus);
    }
}
