using System.Data.Common;
using System.Text.Json;
using Shoppe.Workflow.Documents;
using Shoppe.Workflow.Pilots;
using Shoppe.Workflow.State;

namespace Shoppe.Workflow.Scheduling;

internal sealed partial class Engine
{
    /// <summary>A job taken from the ready set: where it is, and which attempt.</summary>
    internal sealed record ClaimedJob(long Key, long Index, int Work, int Attempt, string? Args, string? Files);

    /// <summary>
    /// The jobs pilots run (commands and instant jobs; not batch jobs, which get their own), every user's: how many are
    /// ready and how many leased, each counted up to 10,000 (the partial indexes on ready and leased jobs keep it cheap
    /// at any size).
    /// </summary>
    public Task<PilotDemand> PilotDemandAsync(CancellationToken cancellationToken) =>
        Store.ReadAsync(async c => new PilotDemand(await CountAsync(c, JobStates.Ready, cancellationToken), await CountAsync(c, JobStates.Leased, cancellationToken)), cancellationToken);

    private static Task<long> CountAsync(DbConnection connection, int state, CancellationToken cancellationToken) =>
        WorkflowStore.ScalarAsync<long>(connection, null,
            $"SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE state = {state} AND runner IN ({Runners.Process}, {Runners.Instant}) LIMIT 10000) x", cancellationToken);

    /// <summary>
    /// One pilot exchange: results, given-back leases and heartbeats, per workflow in one transaction each (under its
    /// lock), then a claim of ready jobs. <paramref name="owner"/> limits a user's own pilot to that user's jobs.
    /// </summary>
    public async Task<PilotAssignment> ExchangeAsync(PilotExchange exchange, string? owner, CancellationToken cancellationToken)
    {
        var rejected = new List<JobLease>();
        var stop = new List<JobLease>();
        var groups = new Dictionary<string, (List<JobResult> Results, List<JobLease> Released, List<JobLease> Running)>(StringComparer.Ordinal);
        (List<JobResult>, List<JobLease>, List<JobLease>) Group(string jobId)
        {
            var workflowId = TryParseJobId(jobId, out var w, out _) ? w : "";
            if (!groups.TryGetValue(workflowId, out var group))
            {
                groups[workflowId] = group = ([], [], []);
            }

            return group;
        }

        foreach (var result in exchange.Results)
        {
            Group(result.Id).Item1.Add(result);
        }

        foreach (var lease in exchange.Released ?? [])
        {
            Group(lease.Id).Item2.Add(lease);
        }

        foreach (var lease in exchange.Running)
        {
            Group(lease.Id).Item3.Add(lease);
        }

        foreach (var (workflowId, (results, released, running)) in groups.OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var workflow = workflowId.Length == 0 ? null : await LoadAsync(workflowId, cancellationToken);
            if (workflow is null || (owner is not null && workflow.Owner != owner))
            {
                rejected.AddRange(results.Select(r => new JobLease(r.Id, r.Attempt)));
                stop.AddRange(running);
                continue;
            }

            var (refused, lost) = await store.WriteAsync(workflow.Key, (c, t) => ApplyAsync(c, t, workflow, exchange.Pilot, results, released, running), cancellationToken);
            rejected.AddRange(refused);
            stop.AddRange(lost);
        }

        if (exchange.Output is { Count: > 0 } output)
        {
            await LogOutputAsync(output, owner, cancellationToken);
        }

        var jobs = new List<PilotJob>();
        if (exchange.Want > 0 || exchange.WantInstant > 0)
        {
            var claimed = new List<ClaimedJob>();
            if (exchange.Only is { } only)
            {
                claimed.AddRange(await ClaimOneAsync(only, exchange.Pilot, owner, cancellationToken));
            }
            else
            {
                claimed.AddRange(await ClaimAsync(Runners.Instant, Math.Min(exchange.WantInstant, Options.InstantBatch), exchange.Pilot, owner, cancellationToken));
                var processes = await ClaimAsync(Runners.Process, exchange.Want, exchange.Pilot, owner, cancellationToken);
                if (Options.Slurm.RestUrl is null && processes.Count < exchange.Want)
                {
                    // No batch system: heavy jobs run on the pilots there are.
                    processes.AddRange(await ClaimAsync(Runners.Batch, exchange.Want - processes.Count, exchange.Pilot, owner, cancellationToken));
                }

                claimed.AddRange(processes);
            }

            foreach (var job in claimed)
            {
                jobs.Add(await ToPilotJobAsync(job, cancellationToken));
            }
        }

        return new PilotAssignment(jobs, stop, Options.Lease.TotalSeconds, rejected);
    }

    /// <summary>Results, given-back leases and heartbeats of one workflow's jobs; returns refused results and lost leases.</summary>
    private async Task<(List<JobLease> Refused, List<JobLease> Lost)> ApplyAsync(DbConnection connection, DbTransaction transaction, Loaded workflow,
        string pilot, List<JobResult> results, List<JobLease> released, List<JobLease> running)
    {
        var now = Now;
        var ready = await ReadyStateAsync(connection, transaction, workflow.Key);
        var refused = new List<JobLease>();
        var lost = new List<JobLease>();
        if (results.Count > 0)
        {
            var ended = new List<(long Index, int Work, int State)>();
            var values = ResultValues(results);
            await using (var update = WorkflowStore.Command(connection, transaction, $"""
                UPDATE jobs SET state = CASE WHEN r.ok = 1 THEN {JobStates.Succeeded} WHEN jobs.attempts >= w.max_attempts THEN {JobStates.Failed} ELSE @ready END,
                    exit_code = r.exit, outputs = r.outputs, message = r.error, finished = @now, lease_owner = NULL, lease_until = NULL
                FROM {values.Table} r, works w
                WHERE jobs.wf = @wf AND jobs.idx = r.idx AND jobs.attempts = r.attempt AND jobs.state = {JobStates.Leased} AND jobs.lease_owner = @pilot
                  AND w.wf = jobs.wf AND w.idx = jobs.work_idx
                RETURNING jobs.idx, jobs.work_idx, jobs.state
                """))
            {
                values.Bind(update);
                WorkflowStore.Add(update, "ready", ready);
                WorkflowStore.Add(update, "now", now);
                WorkflowStore.Add(update, "wf", workflow.Key);
                WorkflowStore.Add(update, "pilot", pilot);
                ended.AddRange(await ListAsync(update, r => (r.GetInt64(0), r.GetInt32(1), (int)r.GetInt64(2)), CancellationToken.None));
            }

            var applied = ended.Select(e => e.Index).ToHashSet();
            foreach (var result in results)
            {
                if (TryParseJobId(result.Id, out _, out var index) && !applied.Contains(index))
                {
                    refused.Add(new JobLease(result.Id, result.Attempt));
                }
            }

            await AfterJobsEndedAsync(connection, transaction, workflow, ended, ready, now);
            foreach (var (index, _, state) in ended.Where(e => e.State != JobStates.Succeeded))
            {
                var result = results.First(r => TryParseJobId(r.Id, out _, out var i) && i == index);
                using var scope = JobScope(workflow, index);
                if (state == JobStates.Failed)
                {
                    LogJobFailed(logger, JobId(workflow.Id, index), result.Attempt, result.Error ?? "failed");
                }
                else
                {
                    LogJobRetried(logger, JobId(workflow.Id, index), result.Attempt, result.Error ?? "failed");
                }
            }
        }

        if (released.Count > 0)
        {
            await using var give = WorkflowStore.Command(connection, transaction, $"""
                UPDATE jobs SET state = @ready, attempts = attempts - 1, lease_owner = NULL, lease_until = NULL
                WHERE wf = @wf AND idx IN {store.Ids("ids")} AND state = {JobStates.Leased} AND lease_owner = @pilot
                """);
            WorkflowStore.Add(give, "ids", store.IdsValue(released.Select(l => Index(l.Id)).ToList()));
            WorkflowStore.Add(give, "ready", ready);
            WorkflowStore.Add(give, "wf", workflow.Key);
            WorkflowStore.Add(give, "pilot", pilot);
            if (await give.ExecuteNonQueryAsync() > 0)
            {
                SignalReady();
            }
        }

        if (running.Count > 0)
        {
            var values = LeaseValues(running);
            await using var extend = WorkflowStore.Command(connection, transaction, $"""
                UPDATE jobs SET lease_until = @until
                FROM {values.Table} r
                WHERE jobs.wf = @wf AND jobs.idx = r.idx AND jobs.attempts = r.attempt AND jobs.state = {JobStates.Leased} AND jobs.lease_owner = @pilot
                RETURNING jobs.idx
                """);
            values.Bind(extend);
            WorkflowStore.Add(extend, "until", now + (long)Options.Lease.TotalMilliseconds);
            WorkflowStore.Add(extend, "wf", workflow.Key);
            WorkflowStore.Add(extend, "pilot", pilot);
            var held = (await ListAsync(extend, r => r.GetInt64(0), CancellationToken.None)).ToHashSet();
            lost.AddRange(running.Where(l => !held.Contains(Index(l.Id))));
        }

        return (refused, lost);
    }

    private static long Index(string jobId) => TryParseJobId(jobId, out _, out var index) ? index : -1;

    /// <summary>Ready, or held while the workflow is suspended.</summary>
    private static async Task<int> ReadyStateAsync(DbConnection connection, DbTransaction transaction, long key) =>
        await WorkflowStore.ScalarAsync<string>(connection, transaction, "SELECT state FROM workflows WHERE key = @key", CancellationToken.None, ("key", key))
            == WorkflowStates.Suspended ? JobStates.Held : JobStates.Ready;

    /// <summary>
    /// After jobs ended: successes release their children (one statement over all the children, however many); a job
    /// that failed for good skips everything downstream of it; works whose jobs all ended finish, and works waiting
    /// for them are decided.
    /// </summary>
    private async Task AfterJobsEndedAsync(DbConnection connection, DbTransaction transaction, Loaded workflow, List<(long Index, int Work, int State)> ended, int ready, long now)
    {
        var succeeded = ended.Where(e => e.State == JobStates.Succeeded).Select(e => e.Index).ToList();
        var failed = ended.Where(e => e.State == JobStates.Failed).Select(e => e.Index).ToList();
        var touched = ended.Select(e => e.Work).ToHashSet();
        if (ended.Any(e => e.State == JobStates.Ready))
        {
            SignalReady();
        }

        if (succeeded.Count > 0)
        {
            await using var release = WorkflowStore.Command(connection, transaction, $"""
                UPDATE jobs SET deps_left = CASE WHEN jobs.deps_left > d.n THEN jobs.deps_left - d.n ELSE 0 END,
                    state = CASE WHEN jobs.deps_left - d.n = 0 AND jobs.state = {JobStates.Waiting}
                        AND EXISTS (SELECT 1 FROM works w WHERE w.wf = jobs.wf AND w.idx = jobs.work_idx AND w.state = '{WorkStates.Active}')
                        THEN @ready ELSE jobs.state END
                FROM (SELECT e.child, COUNT(*) AS n FROM edges e WHERE e.wf = @wf AND e.parent IN {store.Ids("done")} GROUP BY e.child) d
                WHERE jobs.wf = @wf AND jobs.idx = d.child
                """);
            WorkflowStore.Add(release, "done", store.IdsValue(succeeded));
            WorkflowStore.Add(release, "wf", workflow.Key);
            WorkflowStore.Add(release, "ready", ready);
            if (await release.ExecuteNonQueryAsync() > 0)
            {
                SignalReady();
            }
        }

        if (failed.Count > 0)
        {
            await using var skip = WorkflowStore.Command(connection, transaction, $"""
                WITH RECURSIVE down(idx) AS (
                    SELECT e.child FROM edges e WHERE e.wf = @wf AND e.parent IN {store.Ids("failed")}
                    UNION SELECT e.child FROM edges e JOIN down ON e.parent = down.idx WHERE e.wf = @wf)
                UPDATE jobs SET state = {JobStates.Skipped}, message = 'a job it waits for failed', finished = @now
                WHERE wf = @wf AND idx IN (SELECT idx FROM down) AND state < {JobStates.Leased}
                RETURNING work_idx
                """);
            WorkflowStore.Add(skip, "failed", store.IdsValue(failed));
            WorkflowStore.Add(skip, "wf", workflow.Key);
            WorkflowStore.Add(skip, "now", now);
            touched.UnionWith(await ListAsync(skip, r => r.GetInt32(0), CancellationToken.None));
        }

        await SettleWorksAsync(connection, transaction, workflow, touched, now);
    }

    /// <summary>Takes up to <paramref name="count"/> ready jobs of one runner kind, oldest workflow first.</summary>
    public async Task<List<ClaimedJob>> ClaimAsync(int runner, int count, string pilot, string? owner, CancellationToken cancellationToken)
    {
        if (count <= 0)
        {
            return [];
        }

        var now = Now;
        var mine = owner is null ? "" : "AND wf IN (SELECT key FROM workflows WHERE owner = @owner)";
        return await store.WriteAsync(null, async (connection, transaction) =>
        {
            await using var claim = WorkflowStore.Command(connection, transaction, $"""
                UPDATE jobs SET state = {JobStates.Leased}, lease_owner = @pilot, lease_until = @until, attempts = attempts + 1, started = @now
                WHERE (wf, idx) IN (SELECT wf, idx FROM jobs WHERE state = {JobStates.Ready} AND runner = @runner {mine} ORDER BY wf, idx LIMIT @n {store.SkipLocked})
                RETURNING wf, idx, work_idx, attempts, args, files
                """);
            WorkflowStore.Add(claim, "pilot", pilot);
            WorkflowStore.Add(claim, "until", now + (long)Options.Lease.TotalMilliseconds);
            WorkflowStore.Add(claim, "now", now);
            WorkflowStore.Add(claim, "runner", runner);
            WorkflowStore.Add(claim, "n", count);
            if (owner is not null)
            {
                WorkflowStore.Add(claim, "owner", owner);
            }

            return await ListAsync(claim, r => new ClaimedJob(r.GetInt64(0), r.GetInt64(1), r.GetInt32(2), r.GetInt32(3), r.NullableString(4), r.NullableString(5)), cancellationToken);
        }, cancellationToken);
    }

    /// <summary>Takes one named job (a heavy job's own batch pilot), if it is ready.</summary>
    private async Task<List<ClaimedJob>> ClaimOneAsync(string jobId, string pilot, string? owner, CancellationToken cancellationToken)
    {
        if (!TryParseJobId(jobId, out var workflowId, out var index) || await LoadAsync(workflowId, cancellationToken) is not { } workflow
            || (owner is not null && workflow.Owner != owner))
        {
            return [];
        }

        var now = Now;
        return await store.WriteAsync(workflow.Key, async (connection, transaction) =>
        {
            await using var claim = WorkflowStore.Command(connection, transaction, $"""
                UPDATE jobs SET state = {JobStates.Leased}, lease_owner = @pilot, lease_until = @until, attempts = attempts + 1, started = @now
                WHERE wf = @wf AND idx = @idx AND state = {JobStates.Ready} AND runner IN ({Runners.Process}, {Runners.Batch}, {Runners.Instant})
                RETURNING wf, idx, work_idx, attempts, args, files
                """);
            WorkflowStore.Add(claim, "pilot", pilot);
            WorkflowStore.Add(claim, "until", now + (long)Options.Lease.TotalMilliseconds);
            WorkflowStore.Add(claim, "now", now);
            WorkflowStore.Add(claim, "wf", workflow.Key);
            WorkflowStore.Add(claim, "idx", index);
            return await ListAsync(claim, r => new ClaimedJob(r.GetInt64(0), r.GetInt64(1), r.GetInt32(2), r.GetInt32(3), r.NullableString(4), r.NullableString(5)), cancellationToken);
        }, cancellationToken);
    }

    /// <summary>A claimed command or no-op job as a pilot runs it: every reference resolved.</summary>
    private async Task<PilotJob> ToPilotJobAsync(ClaimedJob job, CancellationToken cancellationToken)
    {
        var workflow = await LoadAsync(job.Key, cancellationToken);
        var work = workflow.Plan.Works[job.Work];
        var id = JobId(workflow.Id, job.Index);
        if (work.Spec.Command is not { } command)
        {
            return new PilotJob(id, job.Attempt, [], null, null, null, 0);
        }

        var resolve = await ResolverAsync(workflow, job, cancellationToken);
        var argv = Template.ExpandArgv(command.Argv!, resolve);
        var environment = command.Env?.ToDictionary(e => e.Key, e => Template.Expand(e.Value, resolve), StringComparer.Ordinal);
        var workdir = command.Workdir is { } w ? Template.Expand(w, resolve) : null;
        return new PilotJob(id, job.Attempt, argv, environment, workdir, command.TimeoutSeconds, command.Cores ?? 1);
    }

    /// <summary>What each <c>${…}</c> of a job stands for.</summary>
    internal async Task<Func<string, IReadOnlyList<string>>> ResolverAsync(Loaded workflow, ClaimedJob job, CancellationToken cancellationToken)
    {
        var args = job.Args is null ? null : JsonSerializer.Deserialize(job.Args, DocumentJsonContext.Default.DictionaryStringString);
        var files = job.Files is null ? [] : JsonSerializer.Deserialize(job.Files, DocumentJsonContext.Default.ListString) ?? [];
        var outputs = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        foreach (var reference in ReferencedOutputs(workflow.Plan.Works[job.Work]))
        {
            outputs[reference] = await WorkOutputsAsync(workflow, reference, cancellationToken);
        }

        return reference =>
        {
            var parts = reference.Split('.');
            return parts switch
            {
                ["parameters", var name] => [workflow.Plan.Head.Parameters![name]],
                ["args", var name] => [args![name]],
                ["file"] => files.Count > 0 ? [files[0]] : [],
                ["files"] => files,
                ["workflow", "id"] => [workflow.Id],
                ["job", "id"] => [JobId(workflow.Id, job.Index)],
                ["job", "index"] => [job.Index.ToString(System.Globalization.CultureInfo.InvariantCulture)],
                ["works", _, "outputs", _] => outputs[reference],
                _ => throw new InvalidOperationException($"${{{reference}}} was not checked at submission."),
            };
        };
    }

    private static IEnumerable<string> ReferencedOutputs(PlannedWork work)
    {
        var texts = new List<string>();
        if (work.Spec.Command is { } command)
        {
            texts.AddRange(command.Argv ?? []);
            texts.AddRange(command.Env?.Values ?? (IEnumerable<string>)[]);
        }

        if (work.Spec.Transfer is { } transfer)
        {
            texts.Add(transfer.Source!);
            texts.Add(transfer.Destination!);
        }

        if (work.Spec.Delivery is { } delivery)
        {
            texts.Add(delivery.GetRawText());
        }

        return texts.SelectMany(t => Template.References(t, "")).Where(r => r.StartsWith("works.", StringComparison.Ordinal)).Distinct();
    }

    /// <summary>An output of a work, over its succeeded jobs in order (<c>works.W.outputs.K</c>).</summary>
    private async Task<IReadOnlyList<string>> WorkOutputsAsync(Loaded workflow, string reference, CancellationToken cancellationToken)
    {
        var parts = reference.Split('.');
        if (!workflow.Plan.TryGetWork(parts[1], out var work))
        {
            return [];
        }

        var rows = await store.ReadAsync(async connection =>
        {
            await using var command = WorkflowStore.Command(connection, null,
                $"SELECT outputs FROM jobs WHERE wf = @wf AND work_idx = @work AND state = {JobStates.Succeeded} AND outputs IS NOT NULL ORDER BY idx");
            WorkflowStore.Add(command, "wf", workflow.Key);
            WorkflowStore.Add(command, "work", work);
            return await ListAsync(command, r => r.GetString(0), cancellationToken);
        }, cancellationToken);
        var values = new List<string>();
        foreach (var row in rows)
        {
            var outputs = JsonSerializer.Deserialize(row, DocumentJsonContext.Default.DictionaryStringString);
            if (outputs is not null && outputs.TryGetValue(parts[3], out var value))
            {
                values.Add(value);
            }
        }

        return values;
    }

    /// <summary>A table of (idx, attempt, ok, exit, outputs, error) from one exchange's results.</summary>
    private Values ResultValues(List<JobResult> results)
    {
        var idx = results.Select(r => Index(r.Id)).ToArray();
        var attempt = results.Select(r => r.Attempt).ToArray();
        var ok = results.Select(r => r.Succeeded ? 1 : 0).ToArray();
        var exit = results.Select(r => r.ExitCode).ToArray();
        var outputs = results.Select(r => r.Outputs is { Count: > 0 } o ? JsonSerializer.Serialize(o, DocumentJsonContext.Default.DictionaryStringString) : null).ToArray();
        var error = results.Select(r => r.Error is { Length: > 2000 } e ? e[..2000] : r.Error).ToArray();
        if (store.IsPostgres)
        {
            return new Values("(SELECT * FROM unnest(@r_idx, @r_attempt, @r_ok, @r_exit, @r_outputs, @r_error) AS r(idx, attempt, ok, exit, outputs, error))", command =>
            {
                WorkflowStore.Add(command, "r_idx", idx);
                WorkflowStore.Add(command, "r_attempt", attempt);
                WorkflowStore.Add(command, "r_ok", ok);
                WorkflowStore.Add(command, "r_exit", exit);
                WorkflowStore.Add(command, "r_outputs", outputs);
                WorkflowStore.Add(command, "r_error", error);
            });
        }

        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartArray();
            for (var i = 0; i < results.Count; i++)
            {
                writer.WriteStartArray();
                writer.WriteNumberValue(idx[i]);
                writer.WriteNumberValue(attempt[i]);
                writer.WriteNumberValue(ok[i]);
                if (exit[i] is { } code)
                {
                    writer.WriteNumberValue(code);
                }
                else
                {
                    writer.WriteNullValue();
                }

                writer.WriteStringValue(outputs[i]);
                writer.WriteStringValue(error[i]);
                writer.WriteEndArray();
            }

            writer.WriteEndArray();
        }

        var json = System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
        return new Values("""
            (SELECT value ->> 0 AS idx, value ->> 1 AS attempt, value ->> 2 AS ok, value ->> 3 AS exit, value ->> 4 AS outputs, value ->> 5 AS error
             FROM json_each(@r_rows))
            """, command => WorkflowStore.Add(command, "r_rows", json));
    }

    /// <summary>A table of (idx, attempt) from leases.</summary>
    private Values LeaseValues(List<JobLease> leases)
    {
        var idx = leases.Select(l => Index(l.Id)).ToArray();
        var attempt = leases.Select(l => l.Attempt).ToArray();
        if (store.IsPostgres)
        {
            return new Values("(SELECT * FROM unnest(@l_idx, @l_attempt) AS r(idx, attempt))", command =>
            {
                WorkflowStore.Add(command, "l_idx", idx);
                WorkflowStore.Add(command, "l_attempt", attempt);
            });
        }

        var json = "[" + string.Join(',', idx.Select((x, i) => $"[{x},{attempt[i]}]")) + "]";
        return new Values("(SELECT value ->> 0 AS idx, value ->> 1 AS attempt FROM json_each(@l_rows))", command => WorkflowStore.Add(command, "l_rows", json));
    }

    /// <summary>A derived table and the parameters it needs.</summary>
    private sealed record Values(string Table, Action<DbCommand> Bind);
}
