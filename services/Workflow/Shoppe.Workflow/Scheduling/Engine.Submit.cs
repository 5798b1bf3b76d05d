using System.Data.Common;
using System.Text.Json;
using Shoppe.Workflow.Documents;
using Shoppe.Workflow.State;

namespace Shoppe.Workflow.Scheduling;

internal sealed partial class Engine
{
    /// <summary>
    /// Creates workflow <paramref name="id"/> from a checked head and the rest of its document (the job list, read
    /// as it streams in), in one transaction: a fault anywhere (an unknown job, a cycle, a limit) leaves nothing.
    /// Memory while reading: a name table and two integers per edge, for the references and the cycle check.
    /// </summary>
    public async Task<long> SubmitAsync(string id, string owner, WorkflowPlan plan, DocumentReader reader, string? parentJob, CancellationToken cancellationToken)
    {
        var head = plan.Head;
        var headJson = JsonSerializer.Serialize(head, DocumentJsonContext.Default.WorkflowHead);
        var now = Now;
        var building = head.Parts;
        var key = await store.WriteAsync(null, async (connection, transaction) =>
        {
            var key = await InsertWorkflowAsync(connection, transaction, id, owner, head.Name, headJson, parentJob, building, now, cancellationToken);
            var jobs = new JobsBuilder(plan, Options.MaxJobs);
            await WriteJobsAsync(connection, transaction, key, plan, reader, jobs, building, cancellationToken);
            await InsertWorksAsync(connection, transaction, key, plan, building, now, cancellationToken);
            await InsertCollectionsAsync(connection, transaction, key, head, now, cancellationToken);
            await WorkflowStore.ExecuteAsync(connection, transaction, "UPDATE workflows SET jobs_total = @n WHERE key = @key", cancellationToken, ("n", jobs.Count), ("key", key));
            return key;
        }, cancellationToken);
        _keys[id] = key;
        _loaded[key] = new Loaded(key, id, owner, plan, parentJob);
        SignalReady();
        return key;
    }

    /// <summary>
    /// Streams a document's (or a part's) jobs into the store, then their edges. Jobs of works that can start are
    /// ready at once, unless the workflow is still being built from parts (then everything waits for its start).
    /// A whole document gives each work without listed jobs and without a collection its one job, named as the work.
    /// </summary>
    private async Task WriteJobsAsync(DbConnection connection, DbTransaction transaction, long key, WorkflowPlan plan, DocumentReader reader, JobsBuilder jobs, bool building, CancellationToken cancellationToken)
    {
        await using var writer = await JobWriter.OpenAsync(store, connection, transaction, key, cancellationToken);
        while (await reader.ReadJobAsync(cancellationToken) is { } job)
        {
            var (idx, work, deps, args) = jobs.Declare(job, reader.JobCount - 1);
            var initially = !building && deps == 0 && plan.Works[work].After.Length == 0 && plan.Works[work].Spec.When is null ? JobStates.Ready : JobStates.Waiting;
            await writer.AddJobAsync(idx, work, plan.Works[work].Runner, initially, deps, job.Name, args, null, cancellationToken);
        }

        jobs.Finish();
        if (!building)
        {
            foreach (var work in plan.Works.Where(w => !jobs.HasJobs(w.Index) && w.Spec.ForEach is null))
            {
                if (work.ArgNames.Count > 0)
                {
                    throw new WorkflowDocumentException($"/works/{work.Index}", $"Work '{work.Name}' uses ${{args.{work.ArgNames.First()}}} but has no jobs to give it.");
                }

                var initially = work.After.Length == 0 && work.Spec.When is null ? JobStates.Ready : JobStates.Waiting;
                await writer.AddJobAsync(jobs.Allocate(), work.Index, work.Runner, initially, 0, work.Name, null, null, cancellationToken);
            }
        }

        var (parents, children) = jobs.SortedEdges();
        await writer.WriteEdgesAsync(parents, children, cancellationToken);
        if (building && jobs.Named.Count > 0)
        {
            // Later parts refer to this part's jobs by name.
            await using var names = WorkflowStore.Command(connection, transaction, "INSERT INTO job_names (wf, name, idx) VALUES (@wf, @name, @idx)");
            WorkflowStore.Add(names, "wf", key);
            var name = WorkflowStore.Add(names, "name", "");
            var index = WorkflowStore.Add(names, "idx", 0L);
            foreach (var (jobName, jobIndex) in jobs.Named)
            {
                name.Value = jobName;
                index.Value = (long)jobIndex;
                await names.ExecuteNonQueryAsync(cancellationToken);
            }
        }
    }

    /// <summary>Adds a part of a workflow's jobs (a workflow submitted with <c>parts: true</c>, not yet started), in one transaction.</summary>
    public async Task<long> AddPartAsync(Loaded workflow, DocumentReader reader, CancellationToken cancellationToken) =>
        await store.WriteAsync(workflow.Key, async (connection, transaction) =>
        {
            var state = await WorkflowStore.ScalarAsync<string>(connection, transaction, "SELECT state FROM workflows WHERE key = @key", cancellationToken, ("key", workflow.Key));
            if (state != WorkflowStates.Building)
            {
                throw new WorkflowDocumentException("", $"Workflow {workflow.Id} is {state}: parts are added only before it starts (submit it with \"parts\": true).");
            }

            var offset = await WorkflowStore.ScalarAsync<long>(connection, transaction, "SELECT jobs_total FROM workflows WHERE key = @key", cancellationToken, ("key", workflow.Key));
            var earlier = new Dictionary<string, int>(StringComparer.Ordinal);
            await using (var names = WorkflowStore.Command(connection, transaction, "SELECT name, idx FROM job_names WHERE wf = @wf"))
            {
                WorkflowStore.Add(names, "wf", workflow.Key);
                foreach (var (name, idx) in await ListAsync(names, r => (r.GetString(0), (int)r.GetInt64(1)), cancellationToken))
                {
                    earlier[name] = idx;
                }
            }

            var jobs = new JobsBuilder(workflow.Plan, Options.MaxJobs, (int)offset, earlier);
            await WriteJobsAsync(connection, transaction, workflow.Key, workflow.Plan, reader, jobs, building: true, cancellationToken);
            await WorkflowStore.ExecuteAsync(connection, transaction, "UPDATE workflows SET jobs_total = jobs_total + @n WHERE key = @key", cancellationToken, ("n", jobs.Count), ("key", workflow.Key));
            return jobs.Count;
        }, cancellationToken);

    /// <summary>Starts a workflow built from parts: its works without a job get theirs, and the works that can start do.</summary>
    public async Task<bool> StartAsync(Loaded workflow, CancellationToken cancellationToken)
    {
        var now = Now;
        var started = await store.WriteAsync(workflow.Key, async (connection, transaction) =>
        {
            if (await WorkflowStore.ExecuteAsync(connection, transaction, "UPDATE workflows SET state = @running, started = @now WHERE key = @key AND state = @building", cancellationToken,
                ("running", WorkflowStates.Running), ("now", now), ("key", workflow.Key), ("building", WorkflowStates.Building)) == 0)
            {
                return false;
            }

            foreach (var work in workflow.Plan.Works.Where(w => w.Spec.ForEach is null))
            {
                if (await WorkflowStore.ScalarAsync<long>(connection, transaction, "SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE wf = @wf AND work_idx = @w LIMIT 1) x", cancellationToken,
                    ("wf", workflow.Key), ("w", work.Index)) == 0)
                {
                    var idx = await WorkflowStore.ScalarAsync<long>(connection, transaction,
                        "UPDATE workflows SET jobs_total = jobs_total + 1 WHERE key = @key RETURNING jobs_total - 1", cancellationToken, ("key", workflow.Key));
                    await WorkflowStore.ExecuteAsync(connection, transaction,
                        "INSERT INTO jobs (wf, idx, work_idx, runner, state, deps_left, attempts, name) VALUES (@wf, @idx, @work, @runner, 0, 0, 0, @name)", cancellationToken,
                        ("wf", workflow.Key), ("idx", idx), ("work", work.Index), ("runner", work.Runner), ("name", work.Name));
                }
            }

            var initial = workflow.Plan.Works.Where(w => w.After.Length == 0 && w.Spec.When is null).Select(w => (long)w.Index).ToList();
            await WorkflowStore.ExecuteAsync(connection, transaction, $"UPDATE works SET state = '{WorkStates.Active}', started = @now WHERE wf = @wf AND idx IN {store.Ids("ids")}", cancellationToken,
                ("now", now), ("wf", workflow.Key), ("ids", store.IdsValue(initial)));
            await WorkflowStore.ExecuteAsync(connection, transaction,
                $"UPDATE jobs SET state = {JobStates.Ready} WHERE wf = @wf AND state = {JobStates.Waiting} AND deps_left = 0 AND work_idx IN {store.Ids("ids")}", cancellationToken,
                ("wf", workflow.Key), ("ids", store.IdsValue(initial)));
            await WorkflowStore.ExecuteAsync(connection, transaction, "DELETE FROM job_names WHERE wf = @wf", cancellationToken, ("wf", workflow.Key));
            await SettleWorksAsync(connection, transaction, workflow, initial.Select(i => (int)i), now);
            return true;
        }, cancellationToken);
        SignalReady();
        return started;
    }

    private async Task<long> InsertWorkflowAsync(DbConnection connection, DbTransaction transaction, string id, string owner, string? name, string headJson, string? parentJob, bool building, long now, CancellationToken cancellationToken)
    {
        var keyColumn = store.IsPostgres ? "" : "key, ";
        var keyValue = store.IsPostgres ? "" : "(SELECT COALESCE(MAX(key), 0) + 1 FROM workflows), ";
        var key = await WorkflowStore.ScalarAsync<long>(connection, transaction, $"""
            INSERT INTO workflows (id, {keyColumn}owner, name, state, parent_job, head, jobs_total, submitted, started)
            VALUES (@id, {keyValue}@owner, @name, @state, @parent, @head, 0, @now, @now)
            ON CONFLICT (id) DO NOTHING
            RETURNING key
            """, cancellationToken, ("id", id), ("owner", owner), ("name", name), ("state", building ? WorkflowStates.Building : WorkflowStates.Running), ("parent", parentJob), ("head", headJson), ("now", now));
        return key != 0 ? key : throw new WorkflowDocumentException("", $"A workflow with request id {id} exists already: send another X-Shoppe-Request-Id, or none.");
    }

    private static async Task InsertWorksAsync(DbConnection connection, DbTransaction transaction, long key, WorkflowPlan plan, bool building, long now, CancellationToken cancellationToken)
    {
        await using var insert = WorkflowStore.Command(connection, transaction,
            "INSERT INTO works (wf, idx, name, state, runner, max_attempts, iteration, started) VALUES (@wf, @idx, @name, @state, @runner, @attempts, 0, @started)");
        WorkflowStore.Add(insert, "wf", key);
        var idx = WorkflowStore.Add(insert, "idx", 0);
        var name = WorkflowStore.Add(insert, "name", "");
        var state = WorkflowStore.Add(insert, "state", "");
        var runner = WorkflowStore.Add(insert, "runner", 0);
        var attempts = WorkflowStore.Add(insert, "attempts", 0);
        var started = WorkflowStore.Add(insert, "started", null);
        foreach (var work in plan.Works)
        {
            var active = !building && work.After.Length == 0 && work.Spec.When is null;
            idx.Value = work.Index;
            name.Value = work.Name;
            state.Value = active ? WorkStates.Active : WorkStates.Pending;
            runner.Value = work.Runner;
            attempts.Value = work.MaxAttempts;
            started.Value = active ? now : DBNull.Value;
            await insert.ExecuteNonQueryAsync(cancellationToken);
        }
    }

    private static async Task InsertCollectionsAsync(DbConnection connection, DbTransaction transaction, long key, WorkflowHead head, long now, CancellationToken cancellationToken)
    {
        foreach (var collection in head.Collections ?? [])
        {
            await WorkflowStore.ExecuteAsync(connection, transaction,
                "INSERT INTO collections (wf, name, closed, close_at, folder, stage_from) VALUES (@wf, @name, @closed, @close_at, @folder, @stage)", cancellationToken,
                ("wf", key), ("name", collection.Name), ("closed", collection.Closed), ("close_at", collection.CloseAfterSeconds is { } s ? now + (long)(s * 1000) : null),
                ("folder", collection.Folder), ("stage", collection.StageFrom));
            if (collection.Files is { Count: > 0 } files)
            {
                // A staged file is named by where it lands: that is what its jobs read once it has arrived.
                var names = collection.StageFrom is null ? files : files.Select(f => Path.Combine(collection.Folder!, Path.GetFileName(f))).ToList();
                await AddFilesAsync(connection, transaction, key, collection.Name!, names, collection.StageFrom is null ? FileStates.Arrived : FileStates.Staging, now, cancellationToken);
            }
        }
    }

    /// <summary>Job indices, names and edges of a document as it streams in; checks references, limits and cycles.</summary>
    private sealed class JobsBuilder(WorkflowPlan plan, long maxJobs, int offset = 0, Dictionary<string, int>? earlier = null)
    {
        private readonly Dictionary<string, int> _byName = earlier ?? new(StringComparer.Ordinal);
        private readonly List<(string Name, int Index)> _named = [];
        private readonly List<int> _workOf = [];
        private readonly Dictionary<int, HashSet<int>> _waitsFor = [];
        private readonly List<bool> _declared = [];
        private readonly List<long> _position = [];
        private readonly List<(string Name, long Position)> _forward = [];
        private readonly List<long> _edges = []; // parent << 32 | child
        private readonly bool[] _workHasJobs = new bool[plan.Works.Count];

        /// <summary>Jobs of this document (or part).</summary>
        public long Count => _declared.Count;

        /// <summary>The names this document declared, with their indices (kept for later parts to refer to).</summary>
        public List<(string Name, int Index)> Named => _named;

        public bool HasJobs(int work) => _workHasJobs[work];

        public long Allocate()
        {
            if (_declared.Count >= maxJobs)
            {
                throw new WorkflowDocumentException("/jobs", $"A workflow has at most {maxJobs} jobs in one document: send the rest in parts.");
            }

            _declared.Add(true);
            _position.Add(-1);
            _workOf.Add(-1);
            return offset + _declared.Count - 1;
        }

        private bool Declared(int idx) => idx < offset || _declared[idx - offset];

        public (long Index, int Work, int Deps, string? Args) Declare(JobSpec job, long position)
        {
            var at = $"/jobs/{position}";
            if (job.Work is null || !plan.TryGetWork(job.Work, out var work))
            {
                throw new WorkflowDocumentException(at + "/work", $"'{job.Work}' is not a work of this workflow.");
            }

            var planned = plan.Works[work];
            if (planned.Spec.ForEach is not null)
            {
                throw new WorkflowDocumentException(at + "/work", $"Work '{job.Work}' makes its jobs from a collection's files; it has no listed jobs.");
            }

            foreach (var arg in planned.ArgNames)
            {
                if (job.Args is null || !job.Args.ContainsKey(arg))
                {
                    throw new WorkflowDocumentException(at + "/args", $"Work '{job.Work}' uses ${{args.{arg}}}; this job does not give it.");
                }
            }

            _workHasJobs[work] = true;
            int idx;
            if (job.Name is not null)
            {
                WorkflowPlan.CheckName(job.Name, at + "/name");
                if (_byName.TryGetValue(job.Name, out idx))
                {
                    if (Declared(idx))
                    {
                        throw new WorkflowDocumentException(at + "/name", $"Job '{job.Name}' is declared twice.");
                    }

                    _declared[idx - offset] = true;
                    _position[idx - offset] = position;
                }
                else
                {
                    idx = (int)Allocate();
                    _position[idx - offset] = position;
                    _byName[job.Name] = idx;
                }

                _named.Add((job.Name, idx));
            }
            else
            {
                idx = (int)Allocate();
                _position[idx - offset] = position;
            }

            _workOf[idx - offset] = work;

            var deps = 0;
            if (job.After is { Count: > 0 } after)
            {
                if (after.Count > 10_000)
                {
                    throw new WorkflowDocumentException(at + "/after", "A job waits for at most 10 000 jobs: use a work-level 'after' for more.");
                }

                var seen = after.Count > 8 ? new HashSet<int>() : null;
                var small = seen is null ? new List<int>(after.Count) : null;
                for (var i = 0; i < after.Count; i++)
                {
                    var parentName = after[i];
                    if (!_byName.TryGetValue(parentName, out var parent))
                    {
                        WorkflowPlan.CheckName(parentName, $"{at}/after/{i}");
                        parent = (int)Allocate();
                        _declared[parent - offset] = false;
                        _byName[parentName] = parent;
                        _forward.Add((parentName, position));
                    }

                    if (parent == idx)
                    {
                        throw new WorkflowDocumentException($"{at}/after/{i}", $"Job '{job.Name}' waits for itself.");
                    }

                    if (seen?.Add(parent) ?? !small!.Contains(parent))
                    {
                        small?.Add(parent);
                        _edges.Add(((long)parent << 32) | (uint)idx);
                        deps++;
                    }
                }
            }

            var args = job.Args is { Count: > 0 } a ? JsonSerializer.Serialize(a, DocumentJsonContext.Default.DictionaryStringString) : null;
            if (args is { Length: > 64 * 1024 })
            {
                throw new WorkflowDocumentException(at + "/args", "A job's args are at most 64 KiB.");
            }

            return (idx, work, deps, args);
        }

        /// <summary>Every name referenced is declared, and the jobs form no cycle (Kahn's algorithm over the edges).</summary>
        public void Finish()
        {
            foreach (var (name, position) in _forward)
            {
                if (!Declared(_byName[name]))
                {
                    throw new WorkflowDocumentException($"/jobs/{position}/after", $"Job '{name}' is not a job of this workflow.");
                }
            }

            var n = _declared.Count;
            if (_edges.Count == 0)
            {
                return;
            }

            // A job may wait for a job of another work only if that work does not wait (through 'after') for its own:
            // otherwise neither work could ever start.
            foreach (var edge in _edges)
            {
                var (parent, child) = ((int)(edge >> 32) - offset, (int)(uint)edge - offset);
                if (parent < 0 || child < 0 || _workOf[parent] == _workOf[child])
                {
                    continue;
                }

                if (WaitsFor(_workOf[parent]).Contains(_workOf[child]))
                {
                    var (childWork, parentWork) = (plan.Works[_workOf[child]].Name, plan.Works[_workOf[parent]].Name);
                    throw new WorkflowDocumentException($"/jobs/{_position[child]}/after",
                        $"A job of work '{childWork}' waits for a job of work '{parentWork}', which waits for '{childWork}' to end: neither could start.");
                }
            }

            _edges.Sort();
            // Jobs of earlier parts cannot wait for this part's: only edges inside the part can close a cycle.
            var local = _edges.Where(e => (e >> 32) >= offset).Select(e => (((e >> 32) - offset) << 32) | ((uint)e - (uint)offset)).ToList();
            var start = new int[n + 1];
            var indegree = new int[n];
            foreach (var edge in local)
            {
                start[(int)(edge >> 32) + 1]++;
                indegree[(int)(uint)edge]++;
            }

            for (var i = 0; i < n; i++)
            {
                start[i + 1] += start[i];
            }

            var queue = new Queue<int>();
            for (var i = 0; i < n; i++)
            {
                if (indegree[i] == 0)
                {
                    queue.Enqueue(i);
                }
            }

            var visited = 0;
            while (queue.TryDequeue(out var job))
            {
                visited++;
                for (var e = start[job]; e < start[job + 1]; e++)
                {
                    var child = (int)(uint)local[e];
                    if (--indegree[child] == 0)
                    {
                        queue.Enqueue(child);
                    }
                }
            }

            if (visited < n)
            {
                var member = Enumerable.Range(0, n).First(i => indegree[i] > 0);
                var name = _byName.FirstOrDefault(kv => kv.Value == member + offset).Key;
                throw new WorkflowDocumentException($"/jobs/{_position[member]}/after", $"Job '{name}' is on a cycle of jobs waiting for each other.");
            }
        }

        /// <summary>The works <paramref name="work"/> waits for, directly or through others.</summary>
        private HashSet<int> WaitsFor(int work)
        {
            if (_waitsFor.TryGetValue(work, out var known))
            {
                return known;
            }

            var all = new HashSet<int>();
            var stack = new Stack<int>(plan.Works[work].After);
            while (stack.TryPop(out var next))
            {
                if (all.Add(next))
                {
                    foreach (var before in plan.Works[next].After)
                    {
                        stack.Push(before);
                    }
                }
            }

            _waitsFor[work] = all;
            return all;
        }

        /// <summary>The edges in (parent, child) order: the order of the table's key, so inserts append.</summary>
        public (List<long> Parents, List<long> Children) SortedEdges()
        {
            var parents = new List<long>(_edges.Count);
            var children = new List<long>(_edges.Count);
            foreach (var edge in _edges)
            {
                parents.Add(edge >> 32);
                children.Add((uint)edge);
            }

            return (parents, children);
        }
    }
}
