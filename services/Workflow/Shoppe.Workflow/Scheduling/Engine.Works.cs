using System.Data.Common;
using System.Text.Json;
using Shoppe.ServiceDefaults;
using Shoppe.Workflow.Documents;
using Shoppe.Workflow.State;

namespace Shoppe.Workflow.Scheduling;

internal sealed partial class Engine
{
    private sealed record WorkRow(int Index, string State, int Iteration);

    /// <summary>
    /// Brings works up to date after jobs ended: a work whose jobs have all ended (and whose collection, if it has
    /// one, is closed and used up) finishes, or runs again if its loop says so; pending works whose predecessors have
    /// all finished are decided by their condition; the workflow finishes with its last work. Repeats until nothing
    /// changes (a skipped work can decide the next).
    /// </summary>
    internal async Task SettleWorksAsync(DbConnection connection, DbTransaction transaction, Loaded workflow, IEnumerable<int> touched, long now)
    {
        var workflowState = await WorkflowStore.ScalarAsync<string>(connection, transaction, "SELECT state FROM workflows WHERE key = @key", CancellationToken.None, ("key", workflow.Key));
        if (workflowState is not (WorkflowStates.Running or WorkflowStates.Suspended))
        {
            return; // Built from parts and not started, or ended: nothing moves.
        }

        var works = await WorksAsync(connection, transaction, workflow.Key);
        var changed = false;
        foreach (var index in touched.Distinct().Order())
        {
            if (works[index].State != WorkStates.Active)
            {
                continue;
            }

            changed |= await TryFinishWorkAsync(connection, transaction, workflow, works, index, now);
        }

        var progress = true;
        while (progress)
        {
            progress = false;
            foreach (var work in workflow.Plan.Works)
            {
                if (works[work.Index].State != WorkStates.Pending || work.After.Any(a => !WorkStates.IsFinished(works[a].State)))
                {
                    continue;
                }

                var run = work.Spec.When is { } when
                    ? await HoldsAsync(connection, transaction, workflow, works, when)
                    : work.After.All(a => works[a].State is WorkStates.Succeeded);
                progress = changed = true;
                using var scope = WorkflowScope(workflow);
                if (run)
                {
                    works[work.Index] = works[work.Index] with { State = WorkStates.Active };
                    await WorkflowStore.ExecuteAsync(connection, transaction, "UPDATE works SET state = @state, started = @now WHERE wf = @wf AND idx = @idx", CancellationToken.None,
                        ("state", WorkStates.Active), ("now", now), ("wf", workflow.Key), ("idx", work.Index));
                    var ready = await ReadyStateAsync(connection, transaction, workflow.Key);
                    if (await WorkflowStore.ExecuteAsync(connection, transaction,
                        $"UPDATE jobs SET state = @ready WHERE wf = @wf AND work_idx = @idx AND state = {JobStates.Waiting} AND deps_left = 0", CancellationToken.None,
                        ("ready", ready), ("wf", workflow.Key), ("idx", work.Index)) > 0)
                    {
                        SignalReady();
                    }

                    LogWorkStarted(logger, workflow.Id, work.Name);
                    await TryFinishWorkAsync(connection, transaction, workflow, works, work.Index, now);
                }
                else
                {
                    works[work.Index] = works[work.Index] with { State = WorkStates.Skipped };
                    await WorkflowStore.ExecuteAsync(connection, transaction, "UPDATE works SET state = @state, finished = @now WHERE wf = @wf AND idx = @idx", CancellationToken.None,
                        ("state", WorkStates.Skipped), ("now", now), ("wf", workflow.Key), ("idx", work.Index));
                    await WorkflowStore.ExecuteAsync(connection, transaction,
                        $"UPDATE jobs SET state = {JobStates.Skipped}, message = 'its work was skipped', finished = @now WHERE wf = @wf AND work_idx = @idx AND state < {JobStates.Leased}", CancellationToken.None,
                        ("now", now), ("wf", workflow.Key), ("idx", work.Index));
                    LogWorkSkipped(logger, workflow.Id, work.Name);
                }
            }
        }

        if (changed && works.All(w => WorkStates.IsFinished(w.State)))
        {
            var failed = works.Any(w => w.State is WorkStates.Failed or WorkStates.Aborted);
            var state = failed ? WorkflowStates.Failed : WorkflowStates.Succeeded;
            if (await WorkflowStore.ExecuteAsync(connection, transaction,
                "UPDATE workflows SET state = @state, finished = @now WHERE key = @key AND state IN ('running', 'suspended')", CancellationToken.None,
                ("state", state), ("now", now), ("key", workflow.Key)) > 0)
            {
                using var scope = WorkflowScope(workflow);
                using var final = logger.BeginScope(new AttributeLogScope(ShoppeAttributes.RequestState, failed ? "failed" : "finished"));
                var summary = string.Join(", ", workflow.Plan.Works.Select(w => $"{w.Name} {works[w.Index].State}"));
                LogWorkflowFinished(logger, workflow.Id, state, summary);
            }
        }
    }

    /// <summary>Finishes work <paramref name="index"/> if every job of it has ended; a loop may start it again instead.</summary>
    private async Task<bool> TryFinishWorkAsync(DbConnection connection, DbTransaction transaction, Loaded workflow, List<WorkRow> works, int index, long now)
    {
        var work = workflow.Plan.Works[index];
        if (await WorkflowStore.ScalarAsync<long>(connection, transaction,
            $"SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE wf = @wf AND work_idx = @idx AND state < {JobStates.Succeeded} LIMIT 1) x", CancellationToken.None,
            ("wf", workflow.Key), ("idx", index)) > 0)
        {
            return false;
        }

        if (work.Spec.ForEach is { } forEach && !await CollectionUsedUpAsync(connection, transaction, workflow.Key, forEach.Collection!))
        {
            return false;
        }

        var failed = await WorkflowStore.ScalarAsync<long>(connection, transaction,
            $"SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE wf = @wf AND work_idx = @idx AND state > {JobStates.Succeeded} LIMIT 1) x", CancellationToken.None,
            ("wf", workflow.Key), ("idx", index)) > 0;
        var state = failed ? WorkStates.Failed : WorkStates.Succeeded;
        using var scope = WorkflowScope(workflow);
        if (work.Spec.Loop is { } loop && works[index].Iteration + 1 < loop.Max)
        {
            works[index] = works[index] with { State = state };
            if (await HoldsAsync(connection, transaction, workflow, works, loop.While!))
            {
                // Again: every job of the work waits for its parents inside the work, as on the first run.
                var ready = await ReadyStateAsync(connection, transaction, workflow.Key);
                await WorkflowStore.ExecuteAsync(connection, transaction, $"""
                    UPDATE jobs SET deps_left = (SELECT COUNT(*) FROM edges e JOIN jobs p ON p.wf = e.wf AND p.idx = e.parent
                                                 WHERE e.wf = jobs.wf AND e.child = jobs.idx AND p.work_idx = jobs.work_idx),
                        state = {JobStates.Waiting}, attempts = 0, outputs = NULL, message = NULL, exit_code = NULL, started = NULL, finished = NULL
                    WHERE wf = @wf AND work_idx = @idx
                    """, CancellationToken.None, ("wf", workflow.Key), ("idx", index));
                await WorkflowStore.ExecuteAsync(connection, transaction,
                    $"UPDATE jobs SET state = @ready WHERE wf = @wf AND work_idx = @idx AND deps_left = 0", CancellationToken.None,
                    ("ready", ready), ("wf", workflow.Key), ("idx", index));
                await WorkflowStore.ExecuteAsync(connection, transaction, "UPDATE works SET iteration = iteration + 1 WHERE wf = @wf AND idx = @idx", CancellationToken.None,
                    ("wf", workflow.Key), ("idx", index));
                await WorkflowStore.ExecuteAsync(connection, transaction, "DELETE FROM batch_jobs WHERE wf = @wf AND idx IN (SELECT idx FROM jobs WHERE wf = @wf AND work_idx = @idx)", CancellationToken.None,
                    ("wf", workflow.Key), ("idx", index));
                works[index] = works[index] with { State = WorkStates.Active, Iteration = works[index].Iteration + 1 };
                LogWorkLooped(logger, workflow.Id, work.Name, works[index].Iteration + 1, loop.Max);
                SignalReady();
                return true;
            }
        }

        works[index] = works[index] with { State = state };
        await WorkflowStore.ExecuteAsync(connection, transaction, "UPDATE works SET state = @state, finished = @now WHERE wf = @wf AND idx = @idx", CancellationToken.None,
            ("state", state), ("now", now), ("wf", workflow.Key), ("idx", index));
        LogWorkFinished(logger, workflow.Id, work.Name, state);
        return true;
    }

    private static async Task<List<WorkRow>> WorksAsync(DbConnection connection, DbTransaction? transaction, long key)
    {
        await using var command = WorkflowStore.Command(connection, transaction, "SELECT idx, state, iteration FROM works WHERE wf = @wf ORDER BY idx");
        WorkflowStore.Add(command, "wf", key);
        return await ListAsync(command, r => new WorkRow(r.GetInt32(0), r.GetString(1), r.GetInt32(2)), CancellationToken.None);
    }

    /// <summary>Evaluates a condition over works' outcomes and outputs.</summary>
    private static async Task<bool> HoldsAsync(DbConnection connection, DbTransaction transaction, Loaded workflow, List<WorkRow> works, ConditionSpec condition)
    {
        if (condition.Work is { } name && workflow.Plan.TryGetWork(name, out var k))
        {
            var state = works[k].State;
            return condition.Is switch
            {
                "succeeded" => state == WorkStates.Succeeded,
                "failed" => state is WorkStates.Failed or WorkStates.Aborted,
                "skipped" => state == WorkStates.Skipped,
                _ => WorkStates.IsFinished(state),
            };
        }

        if (condition.Output is { } output)
        {
            var dot = output.IndexOf('.', StringComparison.Ordinal);
            if (!workflow.Plan.TryGetWork(output[..dot], out var work))
            {
                return false;
            }

            var row = await WorkflowStore.ScalarAsync<string>(connection, transaction,
                $"SELECT outputs FROM jobs WHERE wf = @wf AND work_idx = @idx AND state = {JobStates.Succeeded} AND outputs IS NOT NULL ORDER BY idx DESC LIMIT 1",
                CancellationToken.None, ("wf", workflow.Key), ("idx", work));
            var outputs = row is null ? null : JsonSerializer.Deserialize(row, DocumentJsonContext.Default.DictionaryStringString);
            return outputs is not null && outputs.TryGetValue(output[(dot + 1)..], out var value) && value == (condition.EqualTo ?? "");
        }

        if (condition.All is { } all)
        {
            foreach (var c in all)
            {
                if (!await HoldsAsync(connection, transaction, workflow, works, c))
                {
                    return false;
                }
            }

            return true;
        }

        if (condition.Any is { } any)
        {
            foreach (var c in any)
            {
                if (await HoldsAsync(connection, transaction, workflow, works, c))
                {
                    return true;
                }
            }

            return false;
        }

        return condition.Not is { } not && !await HoldsAsync(connection, transaction, workflow, works, not);
    }

    /// <summary>Logging scopes that put a workflow's request id and owner on every record.</summary>
    internal IDisposable WorkflowScope(Loaded workflow) => new Scopes(
        logger.BeginScope(new AttributeLogScope(ShoppeAttributes.RequestId, workflow.Id)),
        logger.BeginScope(new AttributeLogScope(ShoppeAttributes.EndUser, workflow.Owner)));

    private Scopes JobScope(Loaded workflow, long index) => new(
        logger.BeginScope(new AttributeLogScope(ShoppeAttributes.RequestId, JobId(workflow.Id, index))),
        logger.BeginScope(new AttributeLogScope(ShoppeAttributes.EndUser, workflow.Owner)));

    /// <summary>Jobs' stdout and stderr lines, each as a record with the job's request id (and so in <c>shoppe logs</c>).</summary>
    private async Task LogOutputAsync(IReadOnlyList<Pilots.JobOutputLine> lines, string? owner, CancellationToken cancellationToken)
    {
        foreach (var group in lines.GroupBy(l => l.Id, StringComparer.Ordinal))
        {
            if (!TryParseJobId(group.Key, out var workflowId, out var index) || await LoadAsync(workflowId, cancellationToken) is not { } workflow
                || (owner is not null && workflow.Owner != owner))
            {
                continue;
            }

            using var scope = JobScope(workflow, index);
            foreach (var line in group)
            {
                if (line.Error)
                {
                    LogJobStderr(logger, line.Text);
                }
                else
                {
                    LogJobStdout(logger, line.Text);
                }
            }
        }
    }

    private sealed class Scopes(IDisposable? first, IDisposable? second) : IDisposable
    {
        public void Dispose()
        {
            second?.Dispose();
            first?.Dispose();
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Workflow {WorkflowId}: work {Work} started")]
    private static partial void LogWorkStarted(ILogger logger, string workflowId, string work);

    [LoggerMessage(Level = LogLevel.Information, Message = "Workflow {WorkflowId}: work {Work} skipped (its condition does not hold)")]
    private static partial void LogWorkSkipped(ILogger logger, string workflowId, string work);

    [LoggerMessage(Level = LogLevel.Information, Message = "Workflow {WorkflowId}: work {Work} {State}")]
    private static partial void LogWorkFinished(ILogger logger, string workflowId, string work, string state);

    [LoggerMessage(Level = LogLevel.Information, Message = "Workflow {WorkflowId}: work {Work} runs again (run {Run} of at most {Max})")]
    private static partial void LogWorkLooped(ILogger logger, string workflowId, string work, int run, int max);

    [LoggerMessage(Level = LogLevel.Information, Message = "Workflow {WorkflowId} {State}: {Works}")]
    private static partial void LogWorkflowFinished(ILogger logger, string workflowId, string state, string works);

    [LoggerMessage(Level = LogLevel.Error, Message = "Job {JobId} failed (attempt {Attempt}, no attempts left): {Error}")]
    private static partial void LogJobFailed(ILogger logger, string jobId, int attempt, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Job {JobId} failed (attempt {Attempt}); it runs again: {Error}")]
    private static partial void LogJobRetried(ILogger logger, string jobId, int attempt, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Line}")]
    private static partial void LogJobStdout(ILogger logger, string line);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Line}")]
    private static partial void LogJobStderr(ILogger logger, string line);
}
