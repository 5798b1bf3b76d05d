using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Shoppe.Columnar;
using Shoppe.Columnar.Io;
using Shoppe.Columnar.Selection;
using Shoppe.Delivery.Transforms;
using Shoppe.Security;
using Shoppe.Http;
using Shoppe.Security.Remotes;
using Shoppe.ServiceDefaults;
using Shoppe.ServiceDefaults.RequestIds;

namespace Shoppe.Delivery.Apis;

/// <summary>
/// <c>/v1/transforms</c>: submit a transform, follow it, list and download its outputs, cancel it
/// (docs/delivery.md, with the mapping to ServiceX's REST API). A user sees only their own transforms;
/// operators see all.
/// </summary>
public static partial class TransformsApi
{
    /// <summary>Largest request body accepted (a dataset of many URLs fits; anything bigger is a mistake).</summary>
    public const long MaxBodyBytes = 16 * 1024 * 1024;

    /// <summary>How long submission waits to read the first file's schema before refusing the request.</summary>
    private static readonly TimeSpan SchemaCheckTimeout = TimeSpan.FromSeconds(60);

    public static IEndpointRouteBuilder MapTransformsApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/v1/transforms").RequireAuthorization(ShoppeClaims.UserPolicy);
        group.MapPost("", SubmitAsync).WithName("SubmitTransform").WithSummary("Submit a transform: columns of a dataset, filtered");
        group.MapGet("", ListAsync).WithName("ListTransforms").WithSummary("The caller's transforms, newest first");
        group.MapGet("/{id}", GetAsync).WithName("GetTransform").WithSummary("A transform's state, counts and timings");
        group.MapGet("/{id}/files", FilesAsync).WithName("GetTransformFiles").WithSummary("Each input file's state and output");
        group.MapGet("/{id}/files/{index:int}", DownloadAsync).WithName("DownloadTransformOutput").WithSummary("One output file");
        group.MapDelete("/{id}", CancelAsync).WithName("CancelTransform").WithSummary("Cancel a transform that is still running");
        return routes;
    }

    private static ProblemHttpResult Problem(int status, string title, string detail) =>
        TypedResults.Problem(statusCode: status, title: title, detail: detail);

    private static async Task<IResult> SubmitAsync(HttpContext context, TransformStore store, FileDispatcher queue, DeliveryInputs inputs, IOptions<DeliveryOptions> options, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        var user = context.User.UserName()!;
        var settings = options.Value;
        if (context.Request.ContentLength > MaxBodyBytes)
        {
            return Problem(StatusCodes.Status413PayloadTooLarge, "Request too large", $"A transform request may be at most {MaxBodyBytes / (1024 * 1024)} MiB.");
        }

        TransformRequest? request;
        try
        {
            request = await JsonSerializer.DeserializeAsync(new ReadLimitStream(context.Request.Body, MaxBodyBytes), DeliveryJsonContext.Default.TransformRequest, cancellationToken);
        }
        catch (JsonException ex)
        {
            return Problem(StatusCodes.Status400BadRequest, "Malformed request", $"The body is not a transform request: {ex.Message}");
        }
        catch (InvalidDataException)
        {
            return Problem(StatusCodes.Status413PayloadTooLarge, "Request too large", $"A transform request may be at most {MaxBodyBytes / (1024 * 1024)} MiB.");
        }

        if (request is null)
        {
            return Problem(StatusCodes.Status400BadRequest, "Malformed request", "The body is empty.");
        }

        var columns = request.Columns ?? [];
        if (columns.Count == 0)
        {
            return Problem(StatusCodes.Status400BadRequest, "No columns", "'columns' must list at least one column or expression.");
        }

        if (columns.Count > settings.MaxColumns)
        {
            return Problem(StatusCodes.Status400BadRequest, "Too many columns", $"A request may ask for at most {settings.MaxColumns} columns.");
        }

        var format = (request.Output?.Format ?? "parquet").ToLowerInvariant();
        if (format is not ("parquet" or "arrow"))
        {
            return Problem(StatusCodes.Status400BadRequest, "Unknown output format", $"'{request.Output?.Format}' is not an output format; use parquet or arrow.");
        }

        var requestId = RequestId.Current ?? RequestId.NewId();
        if (requestId.StartsWith('.'))
        {
            // It names the output folder: "." and ".." would put outputs beside it.
            return Problem(StatusCodes.Status400BadRequest, "Bad request id", "A transform's request id may not start with '.'; send another X-Shoppe-Request-Id or none.");
        }

        IReadOnlyList<string> files;
        string datasetText;
        string outputDirectory;
        try
        {
            files = inputs.Resolve(request.Dataset, out datasetText);
            outputDirectory = Destination(request.Output?.Destination, requestId, settings, context.RequestServices);
            // Expressions first (no I/O), then the first file's schema: most mistakes are refused before anything runs.
            foreach (var column in columns)
            {
                SelectionParser.ParseColumn(column ?? "");
            }

            if (!string.IsNullOrWhiteSpace(request.Filter))
            {
                SelectionParser.Parse(request.Filter);
            }

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(SchemaCheckTimeout);
            if (DeliveryInputs.IsPushdown(files[0]))
            {
                await inputs.CheckOnNodeAsync(files[0], columns, request.Filter, timeout.Token);
            }
            else
            {
                using var first = await inputs.OpenAsync(files[0], timeout.Token);
                ColumnarQuery.Compile(first.Schema, columns, request.Filter);
            }
        }
        catch (DeliveryRequestException ex)
        {
            return Problem(ex.Status, ex.Title, ex.Message);
        }
        catch (SelectionException ex)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Bad selection",
                detail: $"{(ex.Where ?? "selection")}: {ex.Message}",
                extensions: new Dictionary<string, object?> { ["where"] = ex.Where, ["position"] = ex.Position + 1, ["column"] = ex.Column, ["expression"] = ex.Text });
        }
        catch (ColumnarInputException ex) when (RemoteNotAllowedException.FindIn(ex) is not null)
        {
            // Its name passed the first look; where it led (its addresses, a redirect) is not allowed.
            return Problem(StatusCodes.Status403Forbidden, "Remote not allowed", $"The first file of the dataset could not be read: {ex.Message}");
        }
        catch (ColumnarInputException ex)
        {
            return Problem(StatusCodes.Status422UnprocessableEntity, "Unreadable input", $"The first file of the dataset could not be read: {ex.Message}");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return Problem(StatusCodes.Status504GatewayTimeout, "Input too slow", $"The first file of the dataset did not answer within {SchemaCheckTimeout.TotalSeconds:0} s.");
        }

        if (await store.GetAsync(requestId, cancellationToken) is not null)
        {
            return Problem(StatusCodes.Status409Conflict, "Request id in use", $"A transform with request id {requestId} exists; send a new X-Shoppe-Request-Id or none.");
        }

        var transform = new TransformRecord(requestId, user, TransformStates.Submitted, request.Title, datasetText, [.. columns], request.Filter, format, outputDirectory, files.Count, TimeProvider.System.GetUtcNow(), null, null);
        try
        {
            await store.CreateAsync(transform, files, cancellationToken);
        }
        catch (System.Data.Common.DbException)
        {
            if (await store.GetAsync(requestId, CancellationToken.None) is null)
            {
                throw;
            }

            // The same request id sent twice at once (a client retrying): one of them made it.
            return Problem(StatusCodes.Status409Conflict, "Request id in use", $"A transform with request id {requestId} exists; send a new X-Shoppe-Request-Id or none.");
        }

        queue.Signal();
        var filter = request.Filter ?? "(none)";
        var logger = loggers.CreateLogger("Shoppe.Delivery.Transforms");
        LogSubmitted(logger, requestId, files.Count, datasetText, columns.Count, filter);
        var status = $"/v1/transforms/{requestId}";
        return TypedResults.Created(status, new TransformCreated(requestId, TransformStates.Submitted, files.Count, status, $"/v1/requests/{requestId}/logs"));
    }

    /// <summary>Where a request's outputs go: under the default output root, or a destination the facility allows.</summary>
    private static string Destination(string? requested, string requestId, DeliveryOptions settings, IServiceProvider services)
    {
        if (string.IsNullOrWhiteSpace(requested))
        {
            return Path.Combine(settings.ResolveOutputRoot(services.GetRequiredService<IOptions<ShoppeHostOptions>>().Value.DataRoot), requestId);
        }

        if (!Path.IsPathFullyQualified(requested) || requested.Split('/').Any(s => s == ".."))
        {
            throw new DeliveryRequestException(400, "Bad destination", "'output.destination' must be an absolute directory without '..'.");
        }

        string full;
        try
        {
            full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(requested));
        }
        catch (ArgumentException)
        {
            throw new DeliveryRequestException(400, "Bad destination", "'output.destination' is not a valid path.");
        }

        foreach (var root in settings.Destinations)
        {
            var rootFull = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
            if (full == rootFull || full.StartsWith(rootFull + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            {
                return Path.Combine(full, requestId);
            }
        }

        throw new DeliveryRequestException(403, "Destination not allowed", settings.Destinations.Count == 0
            ? "This facility writes outputs to its own folder only; leave out 'output.destination' and download the files."
            : $"'{requested}' is not under a destination this facility allows ({string.Join(", ", settings.Destinations)}).");
    }

    private static async Task<IResult> ListAsync(ClaimsPrincipal user, TransformStore store, int? limit, CancellationToken cancellationToken)
    {
        var transforms = await store.ListAsync(user.IsOperator() ? null : user.UserName(), Math.Clamp(limit ?? 100, 1, 1000), cancellationToken);
        var summaries = await store.SummarizeAsync(transforms.Select(t => t.RequestId).ToList(), cancellationToken);
        var statuses = transforms.Select(t => Status(t, summaries.GetValueOrDefault(t.RequestId) ?? TransformSummary.Empty)).ToArray();
        return TypedResults.Json(statuses, DeliveryJsonContext.Default.TransformStatusArray);
    }

    private static async Task<(IResult? Problem, TransformRecord? Transform)> FindAsync(ClaimsPrincipal user, string id, TransformStore store, CancellationToken cancellationToken)
    {
        var transform = RequestId.IsValid(id) ? await store.GetAsync(id, cancellationToken) : null;
        if (transform is null)
        {
            return (Problem(StatusCodes.Status404NotFound, "Unknown transform", $"There is no transform {(id.Length > 128 ? id[..128] : id)}."), null);
        }

        if (!user.IsOperator() && transform.Owner != user.UserName())
        {
            return (Problem(StatusCodes.Status403Forbidden, "Not your transform", $"Transform {id} belongs to another user."), null);
        }

        return (null, transform);
    }

    private static async Task<IResult> GetAsync(ClaimsPrincipal user, string id, TransformStore store, CancellationToken cancellationToken)
    {
        var (problem, transform) = await FindAsync(user, id, store, cancellationToken);
        return problem ?? TypedResults.Json(await StatusAsync(transform!, store, cancellationToken), DeliveryJsonContext.Default.TransformStatus);
    }

    private static async Task<TransformStatus> StatusAsync(TransformRecord t, TransformStore store, CancellationToken cancellationToken) =>
        Status(t, await store.SummarizeAsync(t.RequestId, cancellationToken));

    private static TransformStatus Status(TransformRecord t, TransformSummary summary)
    {
        var done = summary.Count(FileStates.Done);
        var failed = summary.Count(FileStates.Failed);
        var end = t.Finished ?? (TransformStates.IsFinished(t.State) ? null : TimeProvider.System.GetUtcNow());
        return new TransformStatus(
            t.RequestId, t.Owner, t.State, t.Title, t.DatasetText, t.Columns, t.Filter, t.Format, t.OutputDirectory,
            t.FilesTotal, done, failed, t.FilesTotal - done - failed - summary.Count(FileStates.Cancelled),
            summary.EventsIn, summary.EventsOut, summary.BytesIn, summary.BytesOut,
            t.Submitted, t.Started, t.Finished,
            t.Started is { } s && end is { } e ? (e - s).TotalSeconds : null,
            summary.Errors,
            $"/v1/requests/{t.RequestId}/logs");
    }

    private static async Task<IResult> FilesAsync(ClaimsPrincipal user, string id, TransformStore store, CancellationToken cancellationToken)
    {
        var (problem, _) = await FindAsync(user, id, store, cancellationToken);
        if (problem is not null)
        {
            return problem;
        }

        var files = await store.GetFilesAsync(id, cancellationToken);
        var rows = files.Select(f => new TransformFileStatus(
            f.Index, f.Input, f.State, f.Attempts, f.Error, f.EventsIn, f.EventsOut, f.BytesIn, f.BytesOut, f.Output,
            f.State == FileStates.Done ? $"/v1/transforms/{id}/files/{f.Index}" : null,
            f.Started is { } s && f.Finished is { } e && f.State == FileStates.Done ? (e - s).TotalSeconds : null,
            f.State == FileStates.Running ? f.Worker : null)).ToArray();
        return TypedResults.Json(rows, DeliveryJsonContext.Default.TransformFileStatusArray);
    }

    private static async Task<IResult> DownloadAsync(ClaimsPrincipal user, string id, int index, TransformStore store, CancellationToken cancellationToken)
    {
        var (problem, transform) = await FindAsync(user, id, store, cancellationToken);
        if (problem is not null)
        {
            return problem;
        }

        var file = await store.GetFileAsync(id, index, cancellationToken);
        if (file is null)
        {
            return Problem(StatusCodes.Status404NotFound, "Unknown file", $"Transform {id} has no file {index}.");
        }

        if (file.State != FileStates.Done || file.Output is null)
        {
            return Problem(StatusCodes.Status409Conflict, "Output not ready", $"File {index} of transform {id} is {file.State}.");
        }

        var path = Path.Combine(transform!.OutputDirectory, Path.GetFileName(file.Output));
        if (!File.Exists(path) || new FileInfo(path).LinkTarget is not null)
        {
            // Gone, or replaced by a link (in a destination users can write to): never follow it.
            return Problem(StatusCodes.Status410Gone, "Output removed", $"The output of file {index} is no longer at {transform.OutputDirectory}.");
        }

        var type = transform.Format == "arrow" ? "application/vnd.apache.arrow.file" : "application/vnd.apache.parquet";
        return TypedResults.PhysicalFile(path, type, Path.GetFileName(path), enableRangeProcessing: true);
    }

    private static async Task<IResult> CancelAsync(ClaimsPrincipal user, string id, TransformStore store, FileDispatcher queue, TransformRunner runner, CancellationToken cancellationToken)
    {
        var (problem, transform) = await FindAsync(user, id, store, cancellationToken);
        if (problem is not null)
        {
            return problem;
        }

        if (TransformStates.IsFinished(transform!.State) || !await queue.CancelAsync(transform, cancellationToken))
        {
            return Problem(StatusCodes.Status409Conflict, "Not running", $"Transform {id} is {transform.State}; only a running transform can be cancelled.");
        }

        // This instance's workers stop at once; other instances' and pilots' at their next lease renewal.
        runner.StopLocal(id);
        return TypedResults.Accepted($"/v1/transforms/{id}", await StatusAsync((await store.GetAsync(id, CancellationToken.None))!, store, CancellationToken.None));
    }

    [LoggerMessage(EventId = 10, Level = LogLevel.Information, Message = "Transform {RequestId} submitted: {Files} files of {Dataset}, {Columns} columns, filter {Filter}")]
    private static partial void LogSubmitted(ILogger logger, string requestId, int files, string dataset, int columns, string filter);
}
