using System.Collections.Concurrent;
using System.Data.Common;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Shoppe.Workflow.Documents;
using Shoppe.Workflow.State;

namespace Shoppe.Workflow.Scheduling;

/// <summary>
/// The workflow engine: submission, the pilots' exchange (claims, results, dependency release), works' conditions and
/// loops, collections, and control (abort, retry, suspend, resume). It keeps no job in memory: the store is the truth,
/// so any number of instances can share one PostgreSQL, and a restarted instance carries on where the store says.
/// What it caches (a workflow's plan, its key) never changes after submission.
/// </summary>
internal sealed partial class Engine(WorkflowStore store, IOptions<WorkflowOptions> options, TimeProvider time, ILogger<Engine> logger)
{
    /// <summary>Workflows whose plan is kept in memory at most (each a few kilobytes, more with long file lists).</summary>
    private const int MaxLoaded = 2000;

    private readonly ConcurrentDictionary<long, Loaded> _loaded = new();
    private readonly ConcurrentDictionary<string, long> _keys = new(StringComparer.Ordinal);
    private TaskCompletionSource _jobsReady = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>A workflow as the engine needs it: its id, owner and checked plan.</summary>
    internal sealed record Loaded(long Key, string Id, string Owner, WorkflowPlan Plan, string? ParentJob);

    public WorkflowStore Store => store;

    private WorkflowOptions Options => options.Value;

    private long Now => time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>Wakes pilots waiting in a long poll: jobs became ready.</summary>
    internal void SignalReady() => Interlocked.Exchange(ref _jobsReady, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    /// <summary>Completes when jobs next become ready in this instance (other instances' jobs are found by polling).</summary>
    internal Task JobsReady => Volatile.Read(ref _jobsReady).Task;

    /// <summary>The workflow with <paramref name="id"/>, or null.</summary>
    public async Task<Loaded?> LoadAsync(string id, CancellationToken cancellationToken)
    {
        if (_keys.TryGetValue(id, out var known) && _loaded.TryGetValue(known, out var cached))
        {
            return cached;
        }

        var row = await store.ReadAsync(async connection =>
        {
            await using var command = WorkflowStore.Command(connection, null, "SELECT key, owner, head, parent_job FROM workflows WHERE id = @id");
            WorkflowStore.Add(command, "id", id);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            return await reader.ReadAsync(cancellationToken) ? (reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.NullableString(3)) : default((long, string, string, string?)?);
        }, cancellationToken);
        if (row is not { } r)
        {
            return null;
        }

        var head = JsonSerializer.Deserialize(r.Item3, DocumentJsonContext.Default.WorkflowHead)!;
        var loaded = new Loaded(r.Item1, id, r.Item2, WorkflowPlan.Build(head, batchAvailable: true), r.Item4);
        if (_loaded.Count >= MaxLoaded)
        {
            // Plans are reloaded from the store on demand: the cache stays bounded however many workflows a facility has run.
            _loaded.Clear();
            _keys.Clear();
        }

        _loaded[r.Item1] = loaded;
        _keys[id] = r.Item1;
        return loaded;
    }

    /// <summary>The workflow with store key <paramref name="key"/>.</summary>
    public async Task<Loaded> LoadAsync(long key, CancellationToken cancellationToken)
    {
        if (_loaded.TryGetValue(key, out var cached))
        {
            return cached;
        }

        var id = await store.ReadAsync(c => WorkflowStore.ScalarAsync<string>(c, null, "SELECT id FROM workflows WHERE key = @key", cancellationToken, ("key", key)), cancellationToken)
            ?? throw new InvalidOperationException($"No workflow has key {key}.");
        return (await LoadAsync(id, cancellationToken))!;
    }

    /// <summary>A job's request id: its workflow's, a colon, its index.</summary>
    public static string JobId(string workflowId, long index) => $"{workflowId}:{index}";

    /// <summary>Splits a job id into its workflow id and index.</summary>
    public static bool TryParseJobId(string jobId, out string workflowId, out long index)
    {
        var colon = jobId.LastIndexOf(':');
        workflowId = colon > 0 ? jobId[..colon] : "";
        index = -1;
        return colon > 0 && long.TryParse(jobId.AsSpan(colon + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out index);
    }

    private static async Task<List<T>> ListAsync<T>(DbCommand command, Func<DbDataReader, T> row, CancellationToken cancellationToken)
    {
        var list = new List<T>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            list.Add(row(reader));
        }

        return list;
    }
}
