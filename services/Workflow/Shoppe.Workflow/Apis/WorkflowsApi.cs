using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Shoppe.Security;
using Shoppe.ServiceDefaults;
using Shoppe.ServiceDefaults.RequestIds;
using Shoppe.Workflow.Documents;
using Shoppe.Workflow.Scheduling;

namespace Shoppe.Workflow.Apis;

/// <summary>
/// <c>/v1/workflows</c>: submit a workflow document (JSON or YAML), follow it, and control it (abort, retry, suspend,
/// resume); collections' files arrive and close here (docs/workflow.md). A user sees only their own workflows;
/// operators see all; another user's workflow is a 404.
/// </summary>
internal static class WorkflowsApi
{
    public static IEndpointRouteBuilder MapWorkflowsApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/v1/workflows").RequireAuthorization(ShoppeClaims.UserPolicy);
        group.MapPost("", SubmitAsync).WithName("SubmitWorkflow").WithSummary("Submit a workflow document (JSON or YAML)")
            .WithMetadata(new Microsoft.AspNetCore.Mvc.DisableRequestSizeLimitAttribute());
        group.MapPost("/{id}/jobs", AddPartAsync).WithName("AddWorkflowPart").WithSummary("A part of the jobs of a workflow submitted with parts: true")
            .WithMetadata(new Microsoft.AspNetCore.Mvc.DisableRequestSizeLimitAttribute());
        group.MapPost("/{id}/start", StartAsync).WithName("StartWorkflow").WithSummary("Start a workflow whose parts have all been sent");
        group.MapGet("", ListAsync).WithName("ListWorkflows").WithSummary("The caller's workflows, newest first");
        group.MapGet("/{id}", StatusAsync).WithName("GetWorkflow").WithSummary("A workflow's state, counts per work and state, collections and critical path");
        group.MapGet("/{id}/jobs", JobsAsync).WithName("GetWorkflowJobs").WithSummary("A workflow's jobs, by state");
        group.MapPost("/{id}/abort", (string id, HttpContext context, Engine engine, CancellationToken ct) => ControlAsync(id, context, engine, "abort", ct));
        group.MapPost("/{id}/retry", (string id, HttpContext context, Engine engine, CancellationToken ct) => ControlAsync(id, context, engine, "retry", ct));
        group.MapPost("/{id}/suspend", (string id, HttpContext context, Engine engine, CancellationToken ct) => ControlAsync(id, context, engine, "suspend", ct));
        group.MapPost("/{id}/resume", (string id, HttpContext context, Engine engine, CancellationToken ct) => ControlAsync(id, context, engine, "resume", ct));
        group.MapPost("/{id}/collections/{name}/files", AddFilesAsync).WithName("AddCollectionFiles").WithSummary("Files that arrived in a collection");
        group.MapPost("/{id}/collections/{name}/close", CloseAsync).WithName("CloseCollection").WithSummary("No more files will arrive in a collection");
        return routes;
    }

    private static ProblemHttpResult Problem(int status, string title, string detail, string? element = null) =>
        TypedResults.Problem(statusCode: status, title: title, detail: detail,
            extensions: element is null ? null : new Dictionary<string, object?> { ["element"] = element });

    private static async Task<IResult> SubmitAsync(HttpContext context, Engine engine, IOptions<WorkflowOptions> options, IOptions<ShoppeHostOptions> host, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var maxBytes = settings.MaxDocumentMiB * 1024L * 1024;
        if (context.Request.ContentLength > maxBytes)
        {
            return Problem(StatusCodes.Status413PayloadTooLarge, "Document too large", $"A workflow document is at most {settings.MaxDocumentMiB} MiB: send its jobs in parts.");
        }

        if (UnsupportedType(context) is { } unsupported)
        {
            return unsupported;
        }

        var id = RequestId.Current ?? RequestId.NewId();
        if (id.Contains(':', StringComparison.Ordinal))
        {
            return Problem(StatusCodes.Status400BadRequest, "Invalid request id", $"'{id}': a workflow's request id has no ':' (its jobs' ids are ID:N).");
        }

        var owner = context.User.UserName()!;
        Stream? converted = null;
        try
        {
            var body = await OpenBodyAsync(context, host.Value, maxBytes, cancellationToken);
            converted = body;
            var reader = new DocumentReader(body, maxBytes);
            var head = await reader.ReadHeadAsync(cancellationToken);
            var plan = WorkflowPlan.Build(head, batchAvailable: settings.Slurm.RestUrl is not null);
            CheckStaging(head, settings, owner);
            CheckWatched(head, settings);
            await engine.SubmitAsync(id, owner, plan, reader, null, cancellationToken);
            var workflow = (await engine.LoadAsync(id, cancellationToken))!;
            using (engine.WorkflowScope(workflow))
            {
                LogSubmitted(loggers.CreateLogger("Shoppe.Workflow.Submissions"), id, head.Name ?? "", plan.Works.Count, reader.JobCount);
            }

            return TypedResults.Created($"/v1/workflows/{id}", await WorkflowStatus.ReadAsync(engine, workflow, cancellationToken));
        }
        catch (WorkflowDocumentException ex)
        {
            return Problem(StatusCodes.Status400BadRequest, "Invalid workflow document", ex.Element.Length > 0 ? $"{ex.Element}: {ex.Message}" : ex.Message, ex.Element);
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return Problem(StatusCodes.Status413PayloadTooLarge, "Document too large", ex.Message);
        }
        catch (InvalidDataException)
        {
            return Problem(StatusCodes.Status413PayloadTooLarge, "Document too large", $"A workflow document is at most {settings.MaxDocumentMiB} MiB: send its jobs in parts.");
        }
        finally
        {
            if (converted is not null)
            {
                await converted.DisposeAsync();
            }
        }
    }

    /// <summary>A staged collection lands its files on the transfer service's storage: its folder must be there.</summary>
    private static void CheckStaging(WorkflowHead head, WorkflowOptions settings, string owner)
    {
        for (var i = 0; i < (head.Collections?.Count ?? 0); i++)
        {
            var collection = head.Collections![i];
            if (collection.StageFrom is null)
            {
                continue;
            }

            if (settings.TransferUrl is null || settings.TransferStorageRoot is not { } root)
            {
                throw new WorkflowDocumentException($"/collections/{i}/stageFrom", "This facility stages nothing in (Workflow:TransferUrl and Workflow:TransferStorageRoot are not set).");
            }

            var relative = Path.GetRelativePath(Path.GetFullPath(root), Path.GetFullPath(collection.Folder!)).Replace('\\', '/');
            if (relative.StartsWith("..", StringComparison.Ordinal) || Path.IsPathRooted(relative) || relative.Split('/')[0] != owner)
            {
                throw new WorkflowDocumentException($"/collections/{i}/folder", $"A staged collection's folder is in your own area of the facility's transfer storage, under {Path.Combine(root, owner)}.");
            }
        }
    }

    /// <summary>A watched folder is under one of the facility's watch roots: users do not list the service's disk.</summary>
    private static void CheckWatched(WorkflowHead head, WorkflowOptions settings)
    {
        for (var i = 0; i < (head.Collections?.Count ?? 0); i++)
        {
            if (head.Collections![i] is not { Folder: { } folder, StageFrom: null })
            {
                continue;
            }

            var full = Path.GetFullPath(folder);
            var roots = settings.WatchRoots.Concat(settings.TransferStorageRoot is { } storage ? [storage] : []).Select(Path.GetFullPath).ToList();
            if (!roots.Any(r => full == r || full.StartsWith(r.TrimEnd('/') + "/", StringComparison.Ordinal)))
            {
                throw new WorkflowDocumentException($"/collections/{i}/folder", roots.Count == 0
                    ? "This facility watches no folders (Workflow:WatchRoots is empty): send the files through the API."
                    : $"A watched folder is under {string.Join(" or ", roots)}.");
            }
        }
    }

    private static ProblemHttpResult? UnsupportedType(HttpContext context)
    {
        var type = context.Request.ContentType ?? "application/json";
        return type.Contains("yaml", StringComparison.OrdinalIgnoreCase) || type.Contains("json", StringComparison.OrdinalIgnoreCase)
            ? null
            : Problem(StatusCodes.Status415UnsupportedMediaType, "Unsupported document type", "Send the workflow as application/json or application/yaml.");
    }

    /// <summary>
    /// The body as JSON in a temporary file, whole before any transaction opens: a slow upload never holds the store's
    /// writer (SQLite has one) while it trickles in. YAML is turned into JSON on the way (its parser reads synchronously).
    /// </summary>
    private static async Task<Stream> OpenBodyAsync(HttpContext context, ShoppeHostOptions host, long maxBytes, CancellationToken cancellationToken)
    {
        var temporary = Directory.CreateDirectory(Path.Combine(host.DataRoot, "tmp")).FullName;
        var copy = new FileStream(Path.Combine(temporary, $"upload-{Guid.NewGuid():N}"), FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.DeleteOnClose | FileOptions.Asynchronous);
        try
        {
            await new Shoppe.Http.ReadLimitStream(context.Request.Body, maxBytes).CopyToAsync(copy, cancellationToken);
            copy.Position = 0;
            if (context.Request.ContentType?.Contains("yaml", StringComparison.OrdinalIgnoreCase) != true)
            {
                return copy;
            }

            await using (copy)
            {
                return await YamlToJson.ConvertAsync(copy, temporary, cancellationToken);
            }
        }
        catch
        {
            await copy.DisposeAsync();
            throw;
        }
    }

    private static async Task<IResult> AddPartAsync(string id, HttpContext context, Engine engine, IOptions<WorkflowOptions> options, IOptions<ShoppeHostOptions> host, CancellationToken cancellationToken)
    {
        if (await VisibleAsync(id, context.User, engine, cancellationToken) is not { } workflow)
        {
            return NotFound(id);
        }

        if (UnsupportedType(context) is { } unsupported)
        {
            return unsupported;
        }

        var maxBytes = options.Value.MaxDocumentMiB * 1024L * 1024;
        Stream? body = null;
        try
        {
            body = await OpenBodyAsync(context, host.Value, maxBytes, cancellationToken);
            var reader = new DocumentReader(body, maxBytes);
            await reader.ReadHeadAsync(cancellationToken, part: true);
            var added = await engine.AddPartAsync(workflow, reader, cancellationToken);
            return TypedResults.Ok(new Dictionary<string, long> { ["added"] = added });
        }
        catch (WorkflowDocumentException ex)
        {
            return Problem(StatusCodes.Status400BadRequest, "Invalid workflow part", ex.Element.Length > 0 ? $"{ex.Element}: {ex.Message}" : ex.Message, ex.Element);
        }
        catch (InvalidDataException)
        {
            return Problem(StatusCodes.Status413PayloadTooLarge, "Part too large", $"A part is at most {options.Value.MaxDocumentMiB} MiB.");
        }
        finally
        {
            if (body is not null)
            {
                await body.DisposeAsync();
            }
        }
    }

    private static async Task<IResult> StartAsync(string id, HttpContext context, Engine engine, CancellationToken cancellationToken)
    {
        if (await VisibleAsync(id, context.User, engine, cancellationToken) is not { } workflow)
        {
            return NotFound(id);
        }

        var started = await engine.StartAsync(workflow, cancellationToken);
        var status = await WorkflowStatus.ReadAsync(engine, workflow, cancellationToken);
        return started ? TypedResults.Ok(status) : Problem(StatusCodes.Status409Conflict, "Cannot start", $"Workflow {id} is {status.State}; only a workflow built from parts is started.");
    }

    private static async Task<Engine.Loaded?> VisibleAsync(string id, ClaimsPrincipal user, Engine engine, CancellationToken cancellationToken)
    {
        if (!RequestId.IsValid(id))
        {
            return null;
        }

        var workflow = await engine.LoadAsync(id, cancellationToken);
        return workflow is not null && (workflow.Owner == user.UserName() || user.IsOperator()) ? workflow : null;
    }

    private static ProblemHttpResult NotFound(string id) => Problem(StatusCodes.Status404NotFound, "No such workflow", $"You have no workflow {id}.");

    private static async Task<IResult> StatusAsync(string id, HttpContext context, Engine engine, CancellationToken cancellationToken) =>
        await VisibleAsync(id, context.User, engine, cancellationToken) is { } workflow
            ? TypedResults.Ok(await WorkflowStatus.ReadAsync(engine, workflow, cancellationToken))
            : NotFound(id);

    private static async Task<IResult> ListAsync(HttpContext context, Engine engine, int? limit, CancellationToken cancellationToken)
    {
        var take = Math.Clamp(limit ?? 100, 1, 1000);
        return TypedResults.Ok(await WorkflowStatus.ListAsync(engine, context.User.UserName()!, take, cancellationToken));
    }

    private static async Task<IResult> JobsAsync(string id, HttpContext context, Engine engine, string? state, long? after, int? limit, CancellationToken cancellationToken)
    {
        if (await VisibleAsync(id, context.User, engine, cancellationToken) is not { } workflow)
        {
            return NotFound(id);
        }

        var code = state is null ? (int?)null : System.Array.IndexOf(State.JobStates.Names, state);
        if (code < 0)
        {
            return Problem(StatusCodes.Status400BadRequest, "Invalid state", $"state is one of {string.Join(", ", State.JobStates.Names)}.", "state");
        }

        return TypedResults.Ok(await WorkflowStatus.JobsAsync(engine, workflow, code, after ?? -1, Math.Clamp(limit ?? 1000, 1, 10_000), cancellationToken));
    }

    private static async Task<IResult> ControlAsync(string id, HttpContext context, Engine engine, string action, CancellationToken cancellationToken)
    {
        if (await VisibleAsync(id, context.User, engine, cancellationToken) is not { } workflow)
        {
            return NotFound(id);
        }

        var done = action switch
        {
            "abort" => await engine.AbortAsync(workflow, cancellationToken),
            "retry" => await engine.RetryAsync(workflow, cancellationToken) > 0,
            "suspend" => await engine.SuspendAsync(workflow, true, cancellationToken),
            _ => await engine.SuspendAsync(workflow, false, cancellationToken),
        };
        var status = await WorkflowStatus.ReadAsync(engine, workflow, cancellationToken);
        return done
            ? TypedResults.Ok(status)
            : Problem(StatusCodes.Status409Conflict, $"Cannot {action}", action == "retry" ? $"Workflow {id} has no failed, skipped or aborted job to retry." : $"Workflow {id} is {status.State}.");
    }

    private sealed record FilesRequest(List<string>? Files);

    private static async Task<IResult> AddFilesAsync(string id, string name, HttpContext context, Engine engine, CancellationToken cancellationToken)
    {
        if (await VisibleAsync(id, context.User, engine, cancellationToken) is not { } workflow)
        {
            return NotFound(id);
        }

        List<string>? files;
        try
        {
            using var document = await JsonDocument.ParseAsync(new Shoppe.Http.ReadLimitStream(context.Request.Body, 16 * 1024 * 1024), cancellationToken: cancellationToken);
            files = document.RootElement.TryGetProperty("files", out var list) ? JsonSerializer.Deserialize(list, DocumentJsonContext.Default.ListString) : null;
        }
        catch (JsonException ex)
        {
            return Problem(StatusCodes.Status400BadRequest, "Invalid request", ex.Message);
        }
        catch (InvalidDataException)
        {
            return Problem(StatusCodes.Status413PayloadTooLarge, "Request too large", "A list of files is at most 16 MiB: send it in several requests.");
        }

        if (files is not { Count: > 0 })
        {
            return Problem(StatusCodes.Status400BadRequest, "Invalid request", "Send {\"files\": [\"name\", ...]}.", "/files");
        }

        for (var i = 0; i < files.Count; i++)
        {
            try
            {
                WorkflowPlan.CheckFileName(files[i], $"/files/{i}");
            }
            catch (WorkflowDocumentException ex)
            {
                return Problem(StatusCodes.Status400BadRequest, "Invalid file", ex.Message, ex.Element);
            }
        }

        try
        {
            var added = await engine.AddFilesAsync(workflow, name, files, cancellationToken);
            return TypedResults.Ok(new Dictionary<string, int> { ["added"] = added });
        }
        catch (KeyNotFoundException ex)
        {
            return Problem(StatusCodes.Status404NotFound, "No such collection", ex.Message);
        }
        catch (InvalidOperationException ex)
        {
            return Problem(StatusCodes.Status409Conflict, "Collection closed", ex.Message);
        }
    }

    private static async Task<IResult> CloseAsync(string id, string name, HttpContext context, Engine engine, CancellationToken cancellationToken)
    {
        if (await VisibleAsync(id, context.User, engine, cancellationToken) is not { } workflow)
        {
            return NotFound(id);
        }

        try
        {
            await engine.CloseCollectionAsync(workflow, name, cancellationToken);
            return TypedResults.Ok(await WorkflowStatus.ReadAsync(engine, workflow, cancellationToken));
        }
        catch (KeyNotFoundException ex)
        {
            return Problem(StatusCodes.Status404NotFound, "No such collection", ex.Message);
        }
    }

    private static void LogSubmitted(ILogger logger, string id, string name, int works, long jobs) => SubmissionLog(logger, id, name, works, jobs, null);

    private static readonly Action<ILogger, string, string, int, long, Exception?> SubmissionLog =
        LoggerMessage.Define<string, string, int, long>(LogLevel.Information, new EventId(1, "WorkflowSubmitted"), "Workflow {WorkflowId} '{Name}' submitted: {Works} works, {Jobs} listed jobs");
}
