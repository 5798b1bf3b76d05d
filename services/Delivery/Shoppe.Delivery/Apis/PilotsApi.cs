using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;
using Shoppe.Columnar;
using Shoppe.Delivery.Tasks;
using Shoppe.Delivery.Transforms;
using Shoppe.Security;
using Shoppe.Workflow.Pilots;

namespace Shoppe.Delivery.Apis;

/// <summary>
/// The pilots' side of delivery: the same exchange the workflow service speaks (<c>POST /v1/pilots/exchange</c>:
/// report, renew leases, take work, long-polling when idle), handing out a transform's files as
/// <c>delivery.file</c> tasks; and where a pilot puts a file's output (<c>PUT /v1/pilots/files/{id}/{index}</c>,
/// taken only under the pilot's lease, written under a private name and renamed into the request's output folder)
/// or asks to reuse an earlier one. A token with the <c>pilot</c> (or <c>service</c>, <c>operator</c>) role serves
/// every user's transforms; any other user's token, only that user's.
/// </summary>
public static class PilotsApi
{
    private const int MaxExchangeBytes = 32 * 1024 * 1024;

    /// <summary>The largest output a pilot may upload for one file.</summary>
    public const long MaxOutputBytes = 64L * 1024 * 1024 * 1024;

    public static IEndpointRouteBuilder MapPilotsApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/v1/pilots").RequireAuthorization(ShoppeClaims.UserPolicy);
        group.MapPost("/exchange", ExchangeAsync).WithName("DeliveryPilotExchange").WithSummary("Report, renew leases and take files")
            .WithMetadata(new Microsoft.AspNetCore.Mvc.RequestSizeLimitAttribute(MaxExchangeBytes));
        group.MapPut("/files/{id}/{index:int}", UploadAsync).WithName("DeliveryPilotUpload").WithSummary("A file's output, under the pilot's lease")
            .WithMetadata(new Microsoft.AspNetCore.Mvc.RequestSizeLimitAttribute(MaxOutputBytes));
        group.MapPost("/files/{id}/{index:int}/reuse", ReuseAsync).WithName("DeliveryPilotReuse").WithSummary("Reuse an earlier output of the same query over the same input");
        return routes;
    }

    private static Microsoft.AspNetCore.Http.HttpResults.ProblemHttpResult Problem(int status, string title, string detail) => TypedResults.Problem(statusCode: status, title: title, detail: detail);

    /// <summary>
    /// The lease holder a pilot's calls act as: a facility pilot's own id; a user's pilot's id under the user's name,
    /// so a user's pilot that names itself as another pilot still touches only its own user's leases.
    /// </summary>
    private static string Holder(string pilot, string? owner) => owner is null ? pilot : $"{UserHolder}{owner}/{pilot}";

    private const string UserHolder = "user:";

    /// <summary>Why a pilot id is refused, or null.</summary>
    private static string? RefusePilot(string? pilot, string? owner) =>
        string.IsNullOrWhiteSpace(pilot) || pilot.Length > 200 ? "A pilot names itself (1-200 characters)."
        : pilot.StartsWith(TransformRunner.HolderPrefix, StringComparison.Ordinal) ? $"A pilot's id may not start with '{TransformRunner.HolderPrefix}': the service's own workers are named so."
        : owner is null && pilot.StartsWith(UserHolder, StringComparison.Ordinal) ? $"A pilot's id may not start with '{UserHolder}': users' own pilots are named so."
        : null;

    /// <summary>Null for a facility pilot (every user's work), else the user whose own pilot this is.</summary>
    private static string? OwnerFilter(ClaimsPrincipal user) =>
        user.HasClaim(ShoppeClaims.Role, ShoppeClaims.PilotRole) || user.HasClaim(ShoppeClaims.Role, ShoppeClaims.ServiceRole) || user.IsOperator() ? null : user.UserName();

    private static async Task<IResult> ExchangeAsync(HttpContext context, FileDispatcher queue, TransformStore store, CancellationToken cancellationToken)
    {
        PilotExchange? exchange;
        try
        {
            exchange = await JsonSerializer.DeserializeAsync(new Shoppe.Http.ReadLimitStream(context.Request.Body, MaxExchangeBytes), PilotJsonContext.Default.PilotExchange, cancellationToken);
        }
        catch (JsonException ex)
        {
            return Problem(StatusCodes.Status400BadRequest, "Invalid exchange", ex.Message);
        }

        if (exchange is null || exchange.Want is < 0 or > 100_000 || exchange.Running is null || exchange.Results is null)
        {
            return Problem(StatusCodes.Status400BadRequest, "Invalid exchange", "An exchange names its pilot (1-200 characters), wants 0-100000 jobs, and lists running and results (maybe empty).");
        }

        var owner = OwnerFilter(context.User);
        if (RefusePilot(exchange.Pilot, owner) is { } refused)
        {
            return Problem(StatusCodes.Status400BadRequest, "Invalid exchange", refused);
        }

        var pilot = Holder(exchange.Pilot, owner);
        foreach (var released in exchange.Released ?? [])
        {
            if (released?.Id is not null && FileTaskSpec.TryParseJobId(released.Id, out var id, out var index))
            {
                await store.ReleaseAsync(new FileLease(id, index, pilot, released.Attempt), cancellationToken);
            }
        }

        var rejected = new List<JobLease>();
        foreach (var result in exchange.Results.Where(r => r is { Succeeded: false, Id: not null }))
        {
            // Successes were recorded when their outputs were taken; a failure is recorded under its lease here.
            if (!FileTaskSpec.TryParseJobId(result.Id, out var id, out var index) || await queue.GetAsync(id, cancellationToken) is not { } transform
                || await store.GetFileAsync(id, index, cancellationToken) is not { } file)
            {
                continue;
            }

            var lease = new FileLease(id, index, pilot, result.Attempt);
            var retry = result.Outputs?.GetValueOrDefault("retry") == "true";
            var error = result.Error is { Length: > 4096 } long_ ? long_[..4096] + "…" : result.Error ?? "failed on the pilot";
            if (!await queue.FailAsync(lease, transform, file.Input, error, retry, cancellationToken))
            {
                rejected.Add(new JobLease(result.Id, result.Attempt)); // Its lease had passed: not recorded.
            }
        }

        foreach (var line in (exchange.Output ?? []).Where(l => l is { Id: not null, Text: not null }).Take(10_000))
        {
            if (FileTaskSpec.TryParseJobId(line.Id, out var id, out _) && await queue.GetAsync(id, cancellationToken) is { } transform && (owner is null || transform.Owner == owner))
            {
                queue.LogPilotLine(transform, exchange.Pilot, line.Error, line.Text.Length > 4096 ? line.Text[..4096] + "…" : line.Text);
            }
        }

        var leases = new List<FileLease>();
        foreach (var running in exchange.Running.Where(r => r?.Id is not null))
        {
            if (FileTaskSpec.TryParseJobId(running.Id, out var id, out var index))
            {
                leases.Add(new FileLease(id, index, pilot, running.Attempt));
            }
        }

        var stop = new List<JobLease>();
        foreach (var lost in await store.RenewAsync(leases, DateTimeOffset.UtcNow + queue.Lease, cancellationToken))
        {
            // A file whose output this pilot has just delivered is done, not lost: its task is only returning.
            if ((await store.GetFileAsync(lost.RequestId, lost.Index, cancellationToken)) is not { State: FileStates.Done, Attempts: var attempts } || attempts != lost.Attempt)
            {
                stop.Add(new JobLease(FileTaskSpec.JobIdOf(lost.RequestId, lost.Index), lost.Attempt));
            }
        }

        stop.AddRange(exchange.Running.Where(r => r?.Id is not null && !FileTaskSpec.TryParseJobId(r.Id, out _, out _)));

        // Files only for a pilot that runs them: an older pilot would take a task for a no-op.
        var want = exchange.Tasks?.Contains(PilotFileTask.Kind) == true && exchange.Only is null ? exchange.Want : 0;
        var jobs = await ClaimJobsAsync(queue, pilot, want, owner, cancellationToken);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(Math.Clamp(exchange.WaitSeconds, 0, 30));
        while (jobs.Count == 0 && stop.Count == 0 && want > 0 && DateTime.UtcNow < deadline && !cancellationToken.IsCancellationRequested)
        {
            // Woken when a transform is submitted here; every 250 ms it looks anyway (another instance's, a retry due).
            var left = deadline - DateTime.UtcNow;
            await Task.WhenAny(queue.Ready, Task.Delay(left < TimeSpan.FromMilliseconds(250) ? left : TimeSpan.FromMilliseconds(250), cancellationToken));
            jobs = await ClaimJobsAsync(queue, pilot, want, owner, cancellationToken);
        }

        if (cancellationToken.IsCancellationRequested && jobs.Count > 0)
        {
            // The pilot went away while it waited: what was claimed for it goes back at once, not after its lease.
            foreach (var job in jobs)
            {
                await store.ReleaseAsync(new FileLease(FileTaskSpec.TryParseJobId(job.Id, out var id, out var index) ? id : "", index, pilot, job.Attempt), CancellationToken.None);
            }

            return TypedResults.Empty;
        }

        // A file is short: a pilot holds one more per core, started the moment one ends.
        return TypedResults.Json(new PilotAssignment(jobs, stop, queue.Lease.TotalSeconds, rejected, Prefetch: 1), PilotJsonContext.Default.PilotAssignment);
    }

    private static async Task<List<PilotJob>> ClaimJobsAsync(FileDispatcher queue, string pilot, int want, string? owner, CancellationToken cancellationToken)
    {
        var jobs = new List<PilotJob>();
        if (want <= 0)
        {
            return jobs;
        }

        foreach (var (spec, _) in await queue.ClaimAsync(pilot, want, owner, pilot: true, cancellationToken))
        {
            var task = new PilotTask(PilotFileTask.Kind, JsonSerializer.SerializeToElement(spec, FileTaskJsonContext.Default.FileTaskSpec));
            jobs.Add(new PilotJob(spec.JobId, spec.Attempt, [], null, null, null, 1, task));
        }

        return jobs;
    }

    /// <summary>The lease a file request names (<c>?pilot=&amp;attempt=</c>), the transform and the file, or a problem.</summary>
    private static async Task<(IResult? Problem, FileLease? Lease, TransformRecord? Transform, string? Input)> FindLeaseAsync(
        HttpContext context, string id, int index, FileDispatcher queue, TransformStore store, CancellationToken cancellationToken)
    {
        var pilot = context.Request.Query["pilot"].ToString();
        var owner = OwnerFilter(context.User);
        if (RefusePilot(pilot, owner) is not null || !int.TryParse(context.Request.Query["attempt"], System.Globalization.CultureInfo.InvariantCulture, out var attempt))
        {
            return (Problem(StatusCodes.Status400BadRequest, "No lease", "Name the lease: ?pilot=<pilot id>&attempt=<attempt>."), null, null, null);
        }

        var transform = await queue.GetAsync(id, cancellationToken);
        if (transform is null || (owner is not null && transform.Owner != owner) || await store.GetFileAsync(id, index, cancellationToken) is not { } file)
        {
            return (Problem(StatusCodes.Status404NotFound, "No such file", $"Transform {id} has no file {index} this pilot may serve."), null, null, null);
        }

        var lease = new FileLease(id, index, Holder(pilot, owner), attempt);
        if (!await store.HoldsAsync(lease, cancellationToken))
        {
            return (Problem(StatusCodes.Status409Conflict, "Lease lost", $"File {index} of {id} is not leased to {pilot} for attempt {attempt} (any more)."), null, null, null);
        }

        return (null, lease, transform, file.Input);
    }

    private static async Task<IResult> UploadAsync(HttpContext context, string id, int index, FileDispatcher queue, TransformStore store, CancellationToken cancellationToken)
    {
        var (problem, lease, transform, input) = await FindLeaseAsync(context, id, index, queue, store, cancellationToken);
        if (problem is not null)
        {
            return problem;
        }

        FileCommit? commit;
        try
        {
            commit = JsonSerializer.Deserialize(context.Request.Headers[PilotFileTask.CommitHeader].ToString(), FileTaskJsonContext.Default.FileCommit);
        }
        catch (JsonException)
        {
            commit = null;
        }

        if (commit is null || commit.EventsIn is < 0 or > 1L << 48 || commit.EventsOut < 0 || commit.EventsOut > commit.EventsIn || commit.BytesIn is < 0 or > 1L << 48
            || !double.IsFinite(commit.Seconds) || commit.Identity is { Length: > 1024 })
        {
            return Problem(StatusCodes.Status400BadRequest, "No result", $"An output comes with its result in {PilotFileTask.CommitHeader}: {{eventsIn, eventsOut, bytesIn, seconds, identity}}.");
        }

        var folder = Directory.CreateDirectory(transform!.OutputDirectory).FullName;
        var upload = Path.Combine(folder, $".{FileDispatcher.OutputName(index, input!, transform.Format)}.{lease!.Attempt}.{Guid.NewGuid().ToString("N")[..8]}.upload");
        try
        {
            long bytes;
            await using (var file = new FileStream(upload, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            {
                await context.Request.Body.CopyToAsync(file, 1 << 16, cancellationToken);
                bytes = file.Length;
                // On disk before its final name, as the service's own workers' outputs are (a crash never shows half a file).
                file.Flush(flushToDisk: true);
            }

            if (context.Request.ContentLength is { } length && length != bytes)
            {
                return Problem(StatusCodes.Status400BadRequest, "Short output", $"The output was {length} bytes, {bytes} arrived.");
            }

            var result = new TransformResult(commit.EventsIn, commit.EventsOut, commit.BytesIn, bytes, TimeSpan.FromSeconds(Math.Max(0, commit.Seconds)));
            // A user's own pilot's outputs serve that request only: they are never offered to others for reuse.
            return await queue.CommitAsync(lease, transform, input!, upload, result, commit.Identity, trusted: OwnerFilter(context.User) is null, cancellationToken)
                ? TypedResults.NoContent()
                : Problem(StatusCodes.Status409Conflict, "Lease lost", $"File {index} of {id} passed to another worker before its output was taken.");
        }
        catch (BadHttpRequestException ex)
        {
            return Problem(ex.StatusCode, "Upload failed", ex.Message);
        }
        finally
        {
            File.Delete(upload);
        }
    }

    private static async Task<IResult> ReuseAsync(HttpContext context, string id, int index, string? identity, FileDispatcher queue, TransformStore store, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(identity) || identity.Length > 1024)
        {
            return Problem(StatusCodes.Status400BadRequest, "No identity", "Name the input's version: ?identity=<size and ETag or time>.");
        }

        var (problem, lease, transform, input) = await FindLeaseAsync(context, id, index, queue, store, cancellationToken);
        if (problem is not null)
        {
            return problem;
        }

        var (outcome, result) = await queue.TryReuseAsync(lease!, transform!, input!, identity, cancellationToken);
        return outcome switch
        {
            ReuseOutcome.Reused => TypedResults.Json(new FileReused(result!.EventsIn, result.EventsOut, result.BytesOut), FileTaskJsonContext.Default.FileReused),
            ReuseOutcome.LeaseLost => Problem(StatusCodes.Status409Conflict, "Lease lost", $"File {index} of {id} passed to another worker."),
            _ => Problem(StatusCodes.Status404NotFound, "Nothing to reuse", "No earlier output of this query over this version of the file."),
        };
    }
}
