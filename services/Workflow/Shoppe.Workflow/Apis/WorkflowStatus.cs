using System.Text.Json.Serialization;
using Shoppe.Workflow.Scheduling;
using Shoppe.Workflow.State;

namespace Shoppe.Workflow.Apis;

/// <summary>A workflow as its owner sees it: counts per state per work, collections' files, and the critical path.</summary>
public sealed record WorkflowStatusView(
    string Id,
    string? Name,
    string Owner,
    string State,
    DateTimeOffset Submitted,
    DateTimeOffset? Finished,
    IReadOnlyDictionary<string, long> Jobs,
    IReadOnlyList<WorkView> Works,
    IReadOnlyList<CollectionView> Collections,
    CriticalPathView? CriticalPath,
    string Logs);

public sealed record WorkView(string Name, string Action, string State, int Run, IReadOnlyDictionary<string, long> Jobs, double? Seconds);

/// <summary>A collection as the iDDS monitor shows one: files arrived, processed, failed, and whether input and output are closed.</summary>
public sealed record CollectionView(string Name, bool InputClosed, bool OutputClosed, long Arrived, long Processed, long Failed, long Staging);

/// <summary>The chain of works that decided when the workflow ended (each waited for the one before it to end last).</summary>
public sealed record CriticalPathView(IReadOnlyList<string> Works, double Seconds);

public sealed record JobView(string Id, long Index, string Work, string State, int Attempts, int? ExitCode, string? Message, string? Pilot,
    IReadOnlyList<string>? Files, IReadOnlyDictionary<string, string>? Outputs, DateTimeOffset? Started, DateTimeOffset? Finished);

public sealed record JobsPage(IReadOnlyList<JobView> Jobs, long? Next);

public sealed record WorkflowSummary(string Id, string? Name, string State, long Jobs, DateTimeOffset Submitted, DateTimeOffset? Finished);

[JsonSourceGenerationOptions(System.Text.Json.JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(WorkflowStatusView))]
[JsonSerializable(typeof(JobsPage))]
[JsonSerializable(typeof(List<WorkflowSummary>))]
public sealed partial class WorkflowApiJsonContext : JsonSerializerContext;

internal static class WorkflowStatus
{
    public static async Task<WorkflowStatusView> ReadAsync(Engine engine, Engine.Loaded workflow, CancellationToken cancellationToken) =>
        await engine.Store.ReadAsync(async connection =>
        {
            string state;
            long submitted;
            long? finished;
            await using (var command = WorkflowStore.Command(connection, null, "SELECT state, submitted, finished FROM workflows WHERE key = @key"))
            {
                WorkflowStore.Add(command, "key", workflow.Key);
                await using var reader = await command.ExecuteReaderAsync(cancellationToken);
                await reader.ReadAsync(cancellationToken);
                (state, submitted, finished) = (reader.GetString(0), reader.GetInt64(1), reader.NullableInt64(2));
            }

            var counts = new Dictionary<int, Dictionary<string, long>>();
            await using (var command = WorkflowStore.Command(connection, null, "SELECT work_idx, state, COUNT(*) FROM jobs WHERE wf = @wf GROUP BY work_idx, state"))
            {
                WorkflowStore.Add(command, "wf", workflow.Key);
                foreach (var (work, jobState, n) in await Engine.QueryAsync(command, r => (r.GetInt32(0), (int)r.GetInt64(1), r.GetInt64(2)), cancellationToken))
                {
                    if (!counts.TryGetValue(work, out var byState))
                    {
                        counts[work] = byState = [];
                    }

                    byState[JobStates.Names[jobState]] = n;
                }
            }

            var works = new List<WorkView>();
            var times = new Dictionary<int, (long? Started, long? Finished)>();
            await using (var command = WorkflowStore.Command(connection, null, "SELECT idx, state, iteration, started, finished FROM works WHERE wf = @wf ORDER BY idx"))
            {
                WorkflowStore.Add(command, "wf", workflow.Key);
                foreach (var (idx, workState, iteration, started, ended) in await Engine.QueryAsync(command, r => (r.GetInt32(0), r.GetString(1), r.GetInt32(2), r.NullableInt64(3), r.NullableInt64(4)), cancellationToken))
                {
                    var planned = workflow.Plan.Works[idx];
                    times[idx] = (started, ended);
                    works.Add(new WorkView(planned.Name, planned.Spec.Action!, workState, iteration + 1, counts.GetValueOrDefault(idx) ?? [],
                        started is { } s && ended is { } e ? (e - s) / 1000.0 : null));
                }
            }

            var collections = new List<CollectionView>();
            await using (var command = WorkflowStore.Command(connection, null, $"""
                SELECT c.name, c.closed,
                    (SELECT COUNT(*) FROM files f WHERE f.wf = c.wf AND f.collection = c.name AND f.state IN ({FileStates.Arrived}, {FileStates.Assigned})),
                    (SELECT COUNT(*) FROM files f JOIN jobs j ON j.wf = f.wf AND j.idx = f.job WHERE f.wf = c.wf AND f.collection = c.name AND j.state = {JobStates.Succeeded}),
                    (SELECT COUNT(*) FROM files f JOIN jobs j ON j.wf = f.wf AND j.idx = f.job WHERE f.wf = c.wf AND f.collection = c.name AND j.state > {JobStates.Succeeded})
                      + (SELECT COUNT(*) FROM files f WHERE f.wf = c.wf AND f.collection = c.name AND f.state = {FileStates.StageFailed}),
                    (SELECT COUNT(*) FROM files f WHERE f.wf = c.wf AND f.collection = c.name AND f.state = {FileStates.Staging})
                FROM collections c WHERE c.wf = @wf ORDER BY c.name
                """))
            {
                WorkflowStore.Add(command, "wf", workflow.Key);
                foreach (var (name, closed, arrived, processed, failed, staging) in await Engine.QueryAsync(command,
                    r => (r.GetString(0), r.GetBoolean(1), r.GetInt64(2), r.GetInt64(3), r.GetInt64(4), r.GetInt64(5)), cancellationToken))
                {
                    collections.Add(new CollectionView(name, closed, closed && staging == 0 && processed + failed >= arrived, arrived, processed, failed, staging));
                }
            }

            var totals = new Dictionary<string, long>(StringComparer.Ordinal) { ["total"] = 0 };
            foreach (var byState in counts.Values)
            {
                foreach (var (name, n) in byState)
                {
                    totals[name] = totals.GetValueOrDefault(name) + n;
                    totals["total"] += n;
                }
            }

            return new WorkflowStatusView(workflow.Id, workflow.Plan.Head.Name, workflow.Owner, state, DateTimeOffset.FromUnixTimeMilliseconds(submitted),
                finished is { } f ? DateTimeOffset.FromUnixTimeMilliseconds(f) : null, totals, works, collections, CriticalPath(workflow, times),
                $"/v1/requests/{workflow.Id}/logs");
        }, cancellationToken);

    /// <summary>From the work that ended last, back through the predecessor that ended last, to a work that waited for none.</summary>
    private static CriticalPathView? CriticalPath(Engine.Loaded workflow, Dictionary<int, (long? Started, long? Finished)> times)
    {
        var ended = times.Where(t => t.Value.Finished is not null).ToList();
        if (ended.Count == 0)
        {
            return null;
        }

        var path = new List<string>();
        var current = ended.MaxBy(t => t.Value.Finished!.Value).Key;
        var end = times[current].Finished!.Value;
        var start = times[current].Started ?? end;
        while (true)
        {
            path.Add(workflow.Plan.Works[current].Name);
            var before = workflow.Plan.Works[current].After.Where(a => times[a].Finished is not null).ToList();
            if (before.Count == 0)
            {
                break;
            }

            current = before.MaxBy(a => times[a].Finished!.Value);
            start = times[current].Started ?? times[current].Finished!.Value;
        }

        path.Reverse();
        return new CriticalPathView(path, (end - start) / 1000.0);
    }

    public static async Task<JobsPage> JobsAsync(Engine engine, Engine.Loaded workflow, int? state, long after, int limit, CancellationToken cancellationToken) =>
        await engine.Store.ReadAsync(async connection =>
        {
            await using var command = WorkflowStore.Command(connection, null, $"""
                SELECT idx, work_idx, state, attempts, exit_code, message, lease_owner, files, started, finished, outputs FROM jobs
                WHERE wf = @wf AND idx > @after {(state is null ? "" : "AND state = @state")} ORDER BY idx LIMIT @limit
                """);
            WorkflowStore.Add(command, "wf", workflow.Key);
            WorkflowStore.Add(command, "after", after);
            WorkflowStore.Add(command, "limit", limit + 1);
            if (state is not null)
            {
                WorkflowStore.Add(command, "state", state);
            }

            var jobs = await Engine.QueryAsync(command, r => new JobView(Engine.JobId(workflow.Id, r.GetInt64(0)), r.GetInt64(0), workflow.Plan.Works[r.GetInt32(1)].Name,
                JobStates.Names[(int)r.GetInt64(2)], r.GetInt32(3), r.NullableInt32(4), r.NullableString(5), r.NullableString(6),
                r.NullableString(7) is { } files ? System.Text.Json.JsonSerializer.Deserialize(files, Documents.DocumentJsonContext.Default.ListString) : null,
                r.NullableString(10) is { } outputs ? System.Text.Json.JsonSerializer.Deserialize(outputs, Documents.DocumentJsonContext.Default.DictionaryStringString) : null,
                r.NullableInt64(8) is { } s ? DateTimeOffset.FromUnixTimeMilliseconds(s) : null, r.NullableInt64(9) is { } f ? DateTimeOffset.FromUnixTimeMilliseconds(f) : null), cancellationToken);
            var next = jobs.Count > limit ? jobs[limit - 1].Index : (long?)null;
            return new JobsPage(jobs.Take(limit).ToList(), next);
        }, cancellationToken);

    public static async Task<List<WorkflowSummary>> ListAsync(Engine engine, string owner, int limit, CancellationToken cancellationToken) =>
        await engine.Store.ReadAsync(async connection =>
        {
            await using var command = WorkflowStore.Command(connection, null,
                "SELECT id, name, state, jobs_total, submitted, finished FROM workflows WHERE owner = @owner AND parent_job IS NULL ORDER BY submitted DESC LIMIT @limit");
            WorkflowStore.Add(command, "owner", owner);
            WorkflowStore.Add(command, "limit", limit);
            return await Engine.QueryAsync(command, r => new WorkflowSummary(r.GetString(0), r.NullableString(1), r.GetString(2), r.GetInt64(3),
                DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(4)), r.NullableInt64(5) is { } f ? DateTimeOffset.FromUnixTimeMilliseconds(f) : null), cancellationToken);
        }, cancellationToken);
}
