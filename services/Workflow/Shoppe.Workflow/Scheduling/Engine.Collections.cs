using System.Data.Common;
using System.Text.Json;
using Shoppe.Workflow.Documents;
using Shoppe.Workflow.State;

namespace Shoppe.Workflow.Scheduling;

internal sealed partial class Engine
{
    /// <summary>Adds files to a collection (those already in it are ignored); returns how many were new.</summary>
    internal static async Task<int> AddFilesAsync(DbConnection connection, DbTransaction transaction, long key, string collection, IEnumerable<string> files, int state, long now, CancellationToken cancellationToken)
    {
        var next = await WorkflowStore.ScalarAsync<long>(connection, transaction, "SELECT COALESCE(MAX(seq), 0) FROM files WHERE wf = @wf AND collection = @c", cancellationToken,
            ("wf", key), ("c", collection));
        await using var insert = WorkflowStore.Command(connection, transaction,
            "INSERT INTO files (wf, collection, name, seq, state, arrived) VALUES (@wf, @c, @name, @seq, @state, @now) ON CONFLICT DO NOTHING");
        WorkflowStore.Add(insert, "wf", key);
        WorkflowStore.Add(insert, "c", collection);
        WorkflowStore.Add(insert, "state", state);
        WorkflowStore.Add(insert, "now", now);
        var name = WorkflowStore.Add(insert, "name", "");
        var seq = WorkflowStore.Add(insert, "seq", 0L);
        var added = 0;
        foreach (var file in files)
        {
            name.Value = file;
            seq.Value = next + 1;
            if (await insert.ExecuteNonQueryAsync(cancellationToken) > 0)
            {
                next++;
                added++;
            }
        }

        return added;
    }

    /// <summary>Files arrive in a collection through the API (a list that grows).</summary>
    public async Task<int> AddFilesAsync(Loaded workflow, string collection, IReadOnlyList<string> files, CancellationToken cancellationToken)
    {
        var now = Now;
        return await store.WriteAsync(workflow.Key, async (connection, transaction) =>
        {
            var closed = await WorkflowStore.ScalarAsync<bool?>(connection, transaction, "SELECT closed FROM collections WHERE wf = @wf AND name = @c", cancellationToken,
                ("wf", workflow.Key), ("c", collection));
            if (closed is null)
            {
                throw new KeyNotFoundException($"Workflow {workflow.Id} has no collection '{collection}'.");
            }

            if (closed.Value)
            {
                throw new InvalidOperationException($"Collection '{collection}' is closed: no file arrives in it any more.");
            }

            var added = await AddFilesAsync(connection, transaction, workflow.Key, collection, files, FileStates.Arrived, now, cancellationToken);
            await MakeCollectionJobsAsync(connection, transaction, workflow, now);
            return added;
        }, cancellationToken);
    }

    /// <summary>Closes a collection's input: no more files; its works finish once the files there are processed.</summary>
    public async Task CloseCollectionAsync(Loaded workflow, string collection, CancellationToken cancellationToken)
    {
        var now = Now;
        await store.WriteAsync(workflow.Key, async (connection, transaction) =>
        {
            if (await WorkflowStore.ExecuteAsync(connection, transaction, "UPDATE collections SET closed = @t WHERE wf = @wf AND name = @c", cancellationToken,
                ("t", true), ("wf", workflow.Key), ("c", collection)) == 0)
            {
                throw new KeyNotFoundException($"Workflow {workflow.Id} has no collection '{collection}'.");
            }

            using (WorkflowScope(workflow))
            {
                LogCollectionClosed(logger, workflow.Id, collection, "asked to");
            }

            await MakeCollectionJobsAsync(connection, transaction, workflow, now);
            return 0;
        }, cancellationToken);
    }

    /// <summary>
    /// The data carousel's step for one workflow: watched folders are listed for files that arrived, collections past
    /// their timeout close, and each work made from a collection gets a job per N files that have arrived (the last,
    /// smaller group once the input is closed). Works whose input is closed and processed finish.
    /// </summary>
    public async Task CarouselAsync(Loaded workflow, CancellationToken cancellationToken)
    {
        var now = Now;
        // A staged collection's files arrive when their copy is done (StageIn), not when they show in the folder.
        var folders = workflow.Plan.Head.Collections?.Where(c => c.Folder is not null && c.StageFrom is null).ToList() ?? [];
        var arrivedByCollection = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var c in folders)
        {
            arrivedByCollection[c.Name!] = ListArrived(c.Folder!);
        }

        await store.WriteAsync(workflow.Key, async (connection, transaction) =>
        {
            var state = await WorkflowStore.ScalarAsync<string>(connection, transaction, "SELECT state FROM workflows WHERE key = @key", cancellationToken, ("key", workflow.Key));
            if (state is not (WorkflowStates.Running or WorkflowStates.Suspended))
            {
                return 0;
            }

            foreach (var (collection, files) in arrivedByCollection)
            {
                var open = await WorkflowStore.ScalarAsync<bool?>(connection, transaction, "SELECT closed FROM collections WHERE wf = @wf AND name = @c", cancellationToken,
                    ("wf", workflow.Key), ("c", collection)) == false;
                if (open && files.Count > 0)
                {
                    await AddFilesAsync(connection, transaction, workflow.Key, collection, files, FileStates.Arrived, now, cancellationToken);
                }
            }

            await using (var timeout = WorkflowStore.Command(connection, transaction, "UPDATE collections SET closed = @t WHERE wf = @wf AND closed = @f AND close_at IS NOT NULL AND close_at <= @now RETURNING name"))
            {
                WorkflowStore.Add(timeout, "t", true);
                WorkflowStore.Add(timeout, "f", false);
                WorkflowStore.Add(timeout, "wf", workflow.Key);
                WorkflowStore.Add(timeout, "now", now);
                foreach (var name in await ListAsync(timeout, r => r.GetString(0), cancellationToken))
                {
                    using (WorkflowScope(workflow))
                    {
                        LogCollectionClosed(logger, workflow.Id, name, "its timeout passed");
                    }
                }
            }

            await MakeCollectionJobsAsync(connection, transaction, workflow, now);
            return 0;
        }, cancellationToken);
    }

    /// <summary>Files in a watched folder that are there whole: not hidden, not <c>*.part</c>/<c>*.tmp</c>.</summary>
    private static List<string> ListArrived(string folder)
    {
        try
        {
            return Directory.EnumerateFiles(folder)
                .Select(Path.GetFileName)
                .Where(n => n is not null && !n.StartsWith('.') && !n.EndsWith(".part", StringComparison.Ordinal) && !n.EndsWith(".tmp", StringComparison.Ordinal))
                .Select(n => Path.Combine(folder, n!))
                .Order(StringComparer.Ordinal)
                .ToList();
        }
        catch (Exception ex) when (ex is DirectoryNotFoundException or UnauthorizedAccessException or IOException)
        {
            return [];
        }
    }

    /// <summary>Makes the jobs of every active work fed by a collection, from the files that arrived and no job has yet.</summary>
    private async Task MakeCollectionJobsAsync(DbConnection connection, DbTransaction transaction, Loaded workflow, long now)
    {
        var works = await WorksAsync(connection, transaction, workflow.Key);
        var ready = await ReadyStateAsync(connection, transaction, workflow.Key);
        var touched = new List<int>();
        foreach (var work in workflow.Plan.Works.Where(w => w.Spec.ForEach is not null))
        {
            touched.Add(work.Index);
            if (works[work.Index].State != WorkStates.Active)
            {
                continue;
            }

            var collection = work.Spec.ForEach!.Collection!;
            var perJob = work.Spec.ForEach.FilesPerJob ?? 1;
            var closed = await WorkflowStore.ScalarAsync<bool>(connection, transaction, "SELECT closed FROM collections WHERE wf = @wf AND name = @c", CancellationToken.None,
                ("wf", workflow.Key), ("c", collection));
            await using var list = WorkflowStore.Command(connection, transaction,
                $"SELECT name FROM files WHERE wf = @wf AND collection = @c AND state = {FileStates.Arrived} ORDER BY seq");
            WorkflowStore.Add(list, "wf", workflow.Key);
            WorkflowStore.Add(list, "c", collection);
            var files = await ListAsync(list, r => r.GetString(0), CancellationToken.None);
            var groups = files.Chunk(perJob).Where(g => g.Length == perJob || closed).ToList();
            if (groups.Count == 0)
            {
                continue;
            }

            var first = await WorkflowStore.ScalarAsync<long>(connection, transaction,
                "UPDATE workflows SET jobs_total = jobs_total + @n WHERE key = @key RETURNING jobs_total - @n", CancellationToken.None, ("n", groups.Count), ("key", workflow.Key));
            for (var g = 0; g < groups.Count; g++)
            {
                var idx = first + g;
                var names = JsonSerializer.Serialize(groups[g].ToList(), DocumentJsonContext.Default.ListString);
                await WorkflowStore.ExecuteAsync(connection, transaction,
                    "INSERT INTO jobs (wf, idx, work_idx, runner, state, deps_left, attempts, files) VALUES (@wf, @idx, @work, @runner, @state, 0, 0, @files)", CancellationToken.None,
                    ("wf", workflow.Key), ("idx", idx), ("work", work.Index), ("runner", work.Runner), ("state", ready), ("files", names));
                await using var assign = WorkflowStore.Command(connection, transaction,
                    $"UPDATE files SET state = {FileStates.Assigned}, job = @idx WHERE wf = @wf AND collection = @c AND name IN (SELECT value FROM json_each(@names))");
                if (store.IsPostgres)
                {
                    assign.CommandText = assign.CommandText.Replace("(SELECT value FROM json_each(@names))", "(SELECT json_array_elements_text(@names::json))", StringComparison.Ordinal);
                }

                WorkflowStore.Add(assign, "idx", idx);
                WorkflowStore.Add(assign, "wf", workflow.Key);
                WorkflowStore.Add(assign, "c", collection);
                WorkflowStore.Add(assign, "names", names);
                await assign.ExecuteNonQueryAsync();
            }

            SignalReady();
        }

        if (touched.Count > 0)
        {
            await SettleWorksAsync(connection, transaction, workflow, touched, now);
        }
    }

    /// <summary>Whether a collection's input is closed and every file that arrived is in a job.</summary>
    private static async Task<bool> CollectionUsedUpAsync(DbConnection connection, DbTransaction transaction, long key, string collection)
    {
        var closed = await WorkflowStore.ScalarAsync<bool>(connection, transaction, "SELECT closed FROM collections WHERE wf = @wf AND name = @c", CancellationToken.None,
            ("wf", key), ("c", collection));
        return closed && await WorkflowStore.ScalarAsync<long>(connection, transaction,
            $"SELECT COUNT(*) FROM files WHERE wf = @wf AND collection = @c AND state NOT IN ({FileStates.Assigned}, {FileStates.StageFailed})", CancellationToken.None, ("wf", key), ("c", collection)) == 0;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Workflow {WorkflowId}: collection {Collection} closed ({Why})")]
    private static partial void LogCollectionClosed(ILogger logger, string workflowId, string collection, string why);
}
