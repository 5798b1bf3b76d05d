using System.Data.Common;
using Shoppe.Workflow.State;

namespace Shoppe.Workflow.Scheduling;

internal sealed partial class Engine
{
    /// <summary>
    /// Leases whose pilot went silent: each such job is ready again (or failed, out of attempts), per workflow in one
    /// transaction with what follows from it. Returns how many leases expired.
    /// </summary>
    public async Task<int> ExpireLeasesAsync(CancellationToken cancellationToken)
    {
        var now = Now;
        var keys = await store.ReadAsync(async connection =>
        {
            await using var command = WorkflowStore.Command(connection, null, $"SELECT DISTINCT wf FROM jobs WHERE state = {JobStates.Leased} AND lease_until < @now");
            WorkflowStore.Add(command, "now", now);
            return await ListAsync(command, r => r.GetInt64(0), cancellationToken);
        }, cancellationToken);
        var expired = 0;
        foreach (var key in keys)
        {
            var workflow = await LoadAsync(key, cancellationToken);
            expired += await store.WriteAsync(key, async (connection, transaction) =>
            {
                var ready = await ReadyStateAsync(connection, transaction, key);
                await using var update = WorkflowStore.Command(connection, transaction, $"""
                    UPDATE jobs SET state = CASE WHEN jobs.attempts >= w.max_attempts THEN {JobStates.Failed} ELSE @ready END,
                        message = 'its pilot ' || jobs.lease_owner || ' went silent', lease_owner = NULL, lease_until = NULL, finished = @now
                    FROM works w
                    WHERE jobs.wf = @wf AND jobs.state = {JobStates.Leased} AND jobs.lease_until < @now AND w.wf = jobs.wf AND w.idx = jobs.work_idx
                    RETURNING jobs.idx, jobs.work_idx, jobs.state
                    """);
                WorkflowStore.Add(update, "ready", ready);
                WorkflowStore.Add(update, "now", now);
                WorkflowStore.Add(update, "wf", key);
                var ended = await ListAsync(update, r => (r.GetInt64(0), r.GetInt32(1), (int)r.GetInt64(2)), cancellationToken);
                using (WorkflowScope(workflow))
                {
                    LogLeasesExpired(logger, workflow.Id, ended.Count);
                }

                await AfterJobsEndedAsync(connection, transaction, workflow, ended, ready, now);
                return ended.Count;
            }, cancellationToken);
        }

        return expired;
    }

    /// <summary>Aborts a workflow: every job not ended is aborted; pilots stop the running ones at their next exchange.</summary>
    public async Task<bool> AbortAsync(Loaded workflow, CancellationToken cancellationToken)
    {
        var now = Now;
        return await store.WriteAsync(workflow.Key, async (connection, transaction) =>
        {
            if (await WorkflowStore.ExecuteAsync(connection, transaction,
                "UPDATE workflows SET state = @state, finished = @now WHERE key = @key AND state IN ('running', 'suspended', 'building')", cancellationToken,
                ("state", WorkflowStates.Aborted), ("now", now), ("key", workflow.Key)) == 0)
            {
                return false;
            }

            await WorkflowStore.ExecuteAsync(connection, transaction,
                $"UPDATE jobs SET state = {JobStates.Aborted}, message = 'aborted', finished = @now, lease_owner = NULL WHERE wf = @wf AND state < {JobStates.Succeeded}", cancellationToken,
                ("now", now), ("wf", workflow.Key));
            await WorkflowStore.ExecuteAsync(connection, transaction,
                $"UPDATE works SET state = '{WorkStates.Aborted}', finished = @now WHERE wf = @wf AND state IN ('{WorkStates.Pending}', '{WorkStates.Active}')", cancellationToken,
                ("now", now), ("wf", workflow.Key));
            using var scope = WorkflowScope(workflow);
            using var final = logger.BeginScope(new Shoppe.ServiceDefaults.AttributeLogScope(Shoppe.ServiceDefaults.ShoppeAttributes.RequestState, "cancelled"));
            LogAborted(logger, workflow.Id);
            return true;
        }, cancellationToken);
    }

    /// <summary>
    /// Retries a finished workflow's failures: failed, aborted and skipped-by-failure jobs wait again for their
    /// parents, and every work that did not succeed is decided afresh.
    /// </summary>
    public async Task<long> RetryAsync(Loaded workflow, CancellationToken cancellationToken)
    {
        var now = Now;
        var count = await store.WriteAsync(workflow.Key, async (connection, transaction) =>
        {
            var state = await WorkflowStore.ScalarAsync<string>(connection, transaction, "SELECT state FROM workflows WHERE key = @key", cancellationToken, ("key", workflow.Key));
            if (state is not (WorkflowStates.Failed or WorkflowStates.Aborted))
            {
                return 0L; // A running, suspended or building workflow is retried once it has ended.
            }

            var again = await WorkflowStore.ExecuteAsync(connection, transaction, $"""
                UPDATE jobs SET state = {JobStates.Waiting}, attempts = 0, message = NULL, exit_code = NULL, finished = NULL,
                    deps_left = (SELECT COUNT(*) FROM edges e JOIN jobs p ON p.wf = e.wf AND p.idx = e.parent
                                 WHERE e.wf = jobs.wf AND e.child = jobs.idx AND p.state <> {JobStates.Succeeded})
                WHERE wf = @wf AND state > {JobStates.Succeeded}
                """, cancellationToken, ("wf", workflow.Key));
            if (again == 0)
            {
                return 0L;
            }

            await WorkflowStore.ExecuteAsync(connection, transaction,
                $"UPDATE works SET state = '{WorkStates.Pending}', finished = NULL WHERE wf = @wf AND state <> '{WorkStates.Succeeded}'", cancellationToken, ("wf", workflow.Key));
            // Their attempts start again: earlier batch submissions are no longer theirs.
            await WorkflowStore.ExecuteAsync(connection, transaction,
                $"DELETE FROM batch_jobs WHERE wf = @wf AND idx IN (SELECT idx FROM jobs WHERE wf = @wf AND state = {JobStates.Waiting})", cancellationToken, ("wf", workflow.Key));
            await WorkflowStore.ExecuteAsync(connection, transaction,
                "UPDATE workflows SET state = @state, finished = NULL WHERE key = @key", cancellationToken, ("state", WorkflowStates.Running), ("key", workflow.Key));
            using (WorkflowScope(workflow))
            {
                LogRetried(logger, workflow.Id, again);
            }

            await SettleWorksAsync(connection, transaction, workflow, [], now);
            return (long)again;
        }, cancellationToken);
        SignalReady();
        return count;
    }

    /// <summary>Suspends (no job starts; running ones finish) or resumes a workflow.</summary>
    public async Task<bool> SuspendAsync(Loaded workflow, bool suspend, CancellationToken cancellationToken)
    {
        var changed = await store.WriteAsync(workflow.Key, async (connection, transaction) =>
        {
            var (from, to) = suspend ? (WorkflowStates.Running, WorkflowStates.Suspended) : (WorkflowStates.Suspended, WorkflowStates.Running);
            if (await WorkflowStore.ExecuteAsync(connection, transaction, "UPDATE workflows SET state = @to WHERE key = @key AND state = @from", cancellationToken,
                ("to", to), ("key", workflow.Key), ("from", from)) == 0)
            {
                return false;
            }

            var (jobFrom, jobTo) = suspend ? (JobStates.Ready, JobStates.Held) : (JobStates.Held, JobStates.Ready);
            await WorkflowStore.ExecuteAsync(connection, transaction, "UPDATE jobs SET state = @to WHERE wf = @wf AND state = @from", cancellationToken,
                ("to", jobTo), ("wf", workflow.Key), ("from", jobFrom));
            using (WorkflowScope(workflow))
            {
                LogSuspended(logger, workflow.Id, to);
            }

            return true;
        }, cancellationToken);
        if (changed && !suspend)
        {
            SignalReady();
        }

        return changed;
    }

    /// <summary>Keys of workflows still running (for the carousel).</summary>
    public Task<List<long>> RunningWithCollectionsAsync(CancellationToken cancellationToken) => store.ReadAsync(async connection =>
    {
        await using var command = WorkflowStore.Command(connection, null, """
            SELECT key FROM workflows w WHERE state IN ('running', 'suspended') AND EXISTS (SELECT 1 FROM collections c WHERE c.wf = w.key)
            """);
        return await ListAsync(command, r => r.GetInt64(0), cancellationToken);
    }, cancellationToken);

    /// <summary>Takes a ready heavy job for one batch submission (its current attempt); false when another instance did.</summary>
    public Task<bool> TakeForBatchAsync(long key, long index, CancellationToken cancellationToken) => store.WriteAsync(key, async (connection, transaction) =>
        await WorkflowStore.ExecuteAsync(connection, transaction, $"""
            INSERT INTO batch_jobs (wf, idx, attempt, submitted)
            SELECT wf, idx, attempts, @now FROM jobs WHERE wf = @wf AND idx = @idx AND state = {JobStates.Ready}
            ON CONFLICT DO NOTHING
            """, cancellationToken, ("now", Now), ("wf", key), ("idx", index)) > 0, cancellationToken);

    /// <summary>Records the batch system's id of a heavy job's batch job.</summary>
    public Task RecordBatchAsync(long key, long index, long batchId, CancellationToken cancellationToken) => store.WriteAsync(key, (connection, transaction) =>
        WorkflowStore.ExecuteAsync(connection, transaction, "UPDATE batch_jobs SET slurm_id = @id WHERE wf = @wf AND idx = @idx AND slurm_id IS NULL", cancellationToken,
            ("id", batchId), ("wf", key), ("idx", index)), cancellationToken);

    /// <summary>Heavy jobs whose batch job was submitted and that no pilot has taken yet.</summary>
    public Task<List<(long Key, long Index, long BatchId)>> SubmittedBatchesAsync(CancellationToken cancellationToken) => store.ReadAsync(async connection =>
    {
        await using var command = WorkflowStore.Command(connection, null, $"""
            SELECT b.wf, b.idx, b.slurm_id FROM batch_jobs b JOIN jobs j ON j.wf = b.wf AND j.idx = b.idx
            WHERE j.state = {JobStates.Ready} AND j.attempts = b.attempt AND b.slurm_id IS NOT NULL
            """);
        return await ListAsync(command, r => (r.GetInt64(0), r.GetInt64(1), r.GetInt64(2)), cancellationToken);
    }, cancellationToken);

    /// <summary>Fails a job that is waiting to run (its batch job was refused or lost), with what follows from it.</summary>
    public async Task FailJobAsync(Loaded workflow, long index, string message, CancellationToken cancellationToken)
    {
        var now = Now;
        await store.WriteAsync(workflow.Key, async (connection, transaction) =>
        {
            await using var update = WorkflowStore.Command(connection, transaction, $"""
                UPDATE jobs SET state = {JobStates.Failed}, message = @message, finished = @now
                WHERE wf = @wf AND idx = @idx AND state IN ({JobStates.Ready}, {JobStates.Held})
                RETURNING idx, work_idx, state
                """);
            WorkflowStore.Add(update, "message", message.Length > 2000 ? message[..2000] : message);
            WorkflowStore.Add(update, "now", now);
            WorkflowStore.Add(update, "wf", workflow.Key);
            WorkflowStore.Add(update, "idx", index);
            var ended = await ListAsync(update, r => (r.GetInt64(0), r.GetInt32(1), (int)r.GetInt64(2)), cancellationToken);
            if (ended.Count > 0)
            {
                using (JobScope(workflow, index))
                {
                    LogJobFailed(logger, JobId(workflow.Id, index), 0, message);
                }

                await AfterJobsEndedAsync(connection, transaction, workflow, ended, JobStates.Ready, now);
            }

            return ended.Count;
        }, cancellationToken);
    }

    internal static Task<List<T>> QueryAsync<T>(DbCommand command, Func<DbDataReader, T> row, CancellationToken cancellationToken) => ListAsync(command, row, cancellationToken);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Workflow {WorkflowId}: {Count} job leases expired (their pilots went silent); the jobs run again")]
    private static partial void LogLeasesExpired(ILogger logger, string workflowId, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Workflow {WorkflowId} aborted")]
    private static partial void LogAborted(ILogger logger, string workflowId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Workflow {WorkflowId}: {Count} jobs retried")]
    private static partial void LogRetried(ILogger logger, string workflowId, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "Workflow {WorkflowId} {State}")]
    private static partial void LogSuspended(ILogger logger, string workflowId, string state);
}
