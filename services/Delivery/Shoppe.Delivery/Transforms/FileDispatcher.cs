using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;
using Shoppe.Columnar;
using Shoppe.Delivery.Tasks;
using Shoppe.ServiceDefaults;

namespace Shoppe.Delivery.Transforms;

/// <summary>How a reuse question ended.</summary>
public enum ReuseOutcome
{
    /// <summary>No earlier output fits: run the query.</summary>
    None,

    /// <summary>The earlier output is in place and the file recorded done.</summary>
    Reused,

    /// <summary>The lease no longer holds: nothing was done.</summary>
    LeaseLost,
}

/// <summary>
/// Every worker's way to the transforms' files, whether it runs in this instance (<see cref="TransformRunner"/>)
/// or in a pilot (Apis/PilotsApi.cs): claims, results, failures and retries, leases that went silent, and the end
/// of each transform, all through the store, so any number of delivery instances and pilots share the work. Each
/// file's outcome is logged here, under its request id, whoever ran it.
/// </summary>
public sealed partial class FileDispatcher
{
    private readonly TransformStore _store;
    private readonly DeliveryInputs _inputs;
    private readonly DeliveryOptions _options;
    private readonly ILogger<FileDispatcher> _logger;
    private readonly TimeProvider _time;
    private readonly string _outputRoot;
    private readonly Counter<long> _files;
    private readonly Counter<long> _events;
    private readonly ConcurrentDictionary<string, TransformRecord> _records = new(StringComparer.Ordinal);
    private TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public FileDispatcher(TransformStore store, DeliveryInputs inputs, IOptions<DeliveryOptions> options, IOptions<ShoppeHostOptions> host, ILogger<FileDispatcher> logger, TimeProvider time, IMeterFactory meters)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(meters);
        _store = store;
        _inputs = inputs;
        _options = options.Value;
        _logger = logger;
        _time = time;
        _outputRoot = Path.TrimEndingDirectorySeparator(options.Value.ResolveOutputRoot(host.Value.DataRoot)) + Path.DirectorySeparatorChar;
        var meter = meters.Create(TransformRunner.ActivitySourceName);
        _files = meter.CreateCounter<long>("shoppe.delivery.files", description: "Input files finished, by outcome and by where they ran");
        _events = meter.CreateCounter<long>("shoppe.delivery.events", description: "Events read and written");
    }

    /// <summary>How long a lease lasts without a renewal.</summary>
    public TimeSpan Lease => TimeSpan.FromSeconds(_options.LeaseSeconds);

    /// <summary>Completes when this instance has new work to give (a submission); workers look every half second anyway.</summary>
    public Task Ready => Volatile.Read(ref _ready).Task;

    /// <summary>Wakes the workers and pilots waiting here: there is new work.</summary>
    public void Signal() => Interlocked.Exchange(ref _ready, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    /// <summary>
    /// Leases up to <paramref name="count"/> files to <paramref name="holder"/>, fairly between users. A pilot's specs
    /// carry no cache token (the service's own never leaves it; pilots read the cache with theirs).
    /// </summary>
    public async Task<List<(FileTaskSpec Spec, TransformRecord Transform)>> ClaimAsync(string holder, int count, string? owner, bool pilot, CancellationToken cancellationToken)
    {
        // Not cancelled half-way: files claimed and then dropped would wait a lease out and lose an attempt.
        _ = cancellationToken;
        var claimed = await _store.ClaimAsync(holder, count, owner, Lease, _time.GetUtcNow(), id => _records.GetValueOrDefault(id), CancellationToken.None);
        var specs = new List<(FileTaskSpec, TransformRecord)>(claimed.Count);
        foreach (var file in claimed)
        {
            var transform = _records.GetOrAdd(file.Transform.RequestId, file.Transform);
            var access = _inputs.Access(file.Input);
            specs.Add((new FileTaskSpec(transform.RequestId, file.Index, file.Attempt, file.Input, pilot ? access with { CacheToken = null, PushdownToken = null } : access, transform.Columns, transform.Filter,
                transform.Format, OutputName(file.Index, file.Input, transform.Format), file.MayReuse), transform));
        }

        return specs;
    }

    /// <summary>
    /// Makes <paramref name="workPath"/> the file's output (a rename: the output appears whole or not at all) and
    /// records it done under the lease; false when the lease had passed (the output, identical, may stand).
    /// </summary>
    /// <remarks>Only a trusted worker's output (an instance's, a pilot with the pilot role) is offered to others for reuse.</remarks>
    public async Task<bool> CommitAsync(FileLease lease, TransformRecord transform, string input, string workPath, TransformResult result, string? identity, bool trusted, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lease);
        ArgumentNullException.ThrowIfNull(transform);
        ArgumentNullException.ThrowIfNull(result);
        var name = OutputName(lease.Index, input, transform.Format);
        var output = Path.Combine(transform.OutputDirectory, name);
        // Into place only under the lease (a cancelled transform's folder gains nothing), then recorded under it:
        // a worker that lost its lease in between put the same content there.
        if (!await _store.HoldsAsync(lease, cancellationToken))
        {
            return false;
        }

        File.Move(workPath, output, overwrite: true);
        if (!await _store.CompleteAsync(lease, result, name, _time.GetUtcNow(), CancellationToken.None))
        {
            return false;
        }

        // Outputs are shared only within the service's own folder: a file in a user's destination could be changed
        // by that user, so it is never offered to others (and others' are copied, not linked, into it).
        if (identity is not null && trusted && IsShareable(output))
        {
            await _store.RememberOutputAsync(OutputCache.Key(transform, input, identity), input, new CachedOutput(output, result.EventsIn, result.EventsOut, result.BytesOut), _time.GetUtcNow(), CancellationToken.None);
        }

        await DoneAsync(lease, transform, input, result, reused: false, cancellationToken);
        return true;
    }

    /// <summary>Puts an earlier output of the same query over the same version of the input in place, and records the file done.</summary>
    public async Task<(ReuseOutcome Outcome, TransformResult? Result)> TryReuseAsync(FileLease lease, TransformRecord transform, string input, string identity, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lease);
        ArgumentNullException.ThrowIfNull(transform);
        var name = OutputName(lease.Index, input, transform.Format);
        var output = Path.Combine(Directory.CreateDirectory(transform.OutputDirectory).FullName, name);
        var result = await OutputCache.TryReuseAsync(_store, OutputCache.Key(transform, input, identity), output, link: IsShareable(output), cancellationToken);
        if (result is null)
        {
            return (ReuseOutcome.None, null);
        }

        if (!await _store.CompleteAsync(lease, result, name, _time.GetUtcNow(), CancellationToken.None))
        {
            return (ReuseOutcome.LeaseLost, null);
        }

        await DoneAsync(lease, transform, input, result, reused: true, cancellationToken);
        return (ReuseOutcome.Reused, result);
    }

    /// <summary>Records a failure: the file waits for a retry (after a growing delay) when it may pass and has tries left, else it has failed.</summary>
    /// <returns>False when the lease no longer held: nothing was recorded.</returns>
    public async Task<bool> FailAsync(FileLease lease, TransformRecord transform, string input, string error, bool retry, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lease);
        ArgumentNullException.ThrowIfNull(transform);
        var now = _time.GetUtcNow();
        var delay = _options.RetryDelay * Math.Pow(2, lease.Attempt - 1);
        var state = await _store.FailAsync(lease, error, retry ? now + delay : null, _options.MaxAttempts, now, cancellationToken);
        using var scope = Scope(transform);
        if (state == FileStates.Pending)
        {
            LogRetrying(_logger, lease.Index + 1, input, lease.Attempt, _options.MaxAttempts, delay.TotalSeconds, Where(lease.Holder), error);
        }
        else if (state == FileStates.Failed)
        {
            _files.Add(1, new KeyValuePair<string, object?>("outcome", "failed"));
            LogFileFailed(_logger, lease.Index + 1, input, lease.Attempt, Where(lease.Holder), error);
            await TryFinishAsync(transform.RequestId, cancellationToken);
        }

        return state is not null;
    }

    /// <summary>The transform of <paramref name="requestId"/> (remembered while it runs).</summary>
    public async Task<TransformRecord?> GetAsync(string requestId, CancellationToken cancellationToken)
    {
        if (_records.TryGetValue(requestId, out var known))
        {
            return known;
        }

        var transform = await _store.GetAsync(requestId, cancellationToken);
        return transform is null || TransformStates.IsFinished(transform.State) ? transform : _records.GetOrAdd(requestId, transform);
    }

    /// <summary>
    /// Takes back leases that went silent (their files wait again, or fail with no attempts left) and ends the
    /// transforms whose last file ended where nobody finished them (an instance killed in between).
    /// </summary>
    public async Task SweepAsync(CancellationToken cancellationToken)
    {
        // Transforms another instance finished are forgotten here too (one query, however many are remembered).
        var open = await _store.ListOpenAsync(cancellationToken);
        foreach (var id in _records.Keys.Where(id => !open.Contains(id)))
        {
            _records.TryRemove(id, out _);
        }

        var touched = new HashSet<string>(StringComparer.Ordinal);
        foreach (var expired in await _store.ExpireLeasesAsync(_options.MaxAttempts, _time.GetUtcNow(), cancellationToken))
        {
            if (await GetAsync(expired.RequestId, cancellationToken) is not { } transform)
            {
                continue;
            }

            using var scope = Scope(transform);
            LogLeaseExpired(_logger, expired.Index + 1, expired.Holder, expired.Attempt, expired.Failed ? "it has failed: no attempts are left" : "it runs again on the next free worker");
            if (expired.Failed)
            {
                touched.Add(expired.RequestId);
            }
            else
            {
                Signal();
            }
        }

        foreach (var id in touched.Concat(await _store.ListSettledAsync(cancellationToken)).Distinct(StringComparer.Ordinal))
        {
            await TryFinishAsync(id, cancellationToken);
        }
    }

    /// <summary>Cancels a transform in the store (every worker's files stop at their next renewal); false when it had finished.</summary>
    public async Task<bool> CancelAsync(TransformRecord transform, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(transform);
        var now = _time.GetUtcNow();
        if (!await _store.CancelAsync(transform.RequestId, now, CancellationToken.None))
        {
            return false;
        }

        _records.TryRemove(transform.RequestId, out _);
        using (Scope(transform))
        using (_logger.BeginScope(new AttributeLogScope(ShoppeAttributes.RequestState, "cancelled")))
        {
            LogCancelled(_logger, transform.RequestId);
        }

        return true;
    }

    /// <summary>A line a pilot's task wrote, into the transform's log.</summary>
    public void LogPilotLine(TransformRecord transform, string pilot, bool error, string text)
    {
        ArgumentNullException.ThrowIfNull(transform);
        using var scope = Scope(transform);
        if (error)
        {
            LogPilotError(_logger, pilot, text);
        }
        else
        {
            LogPilotOutput(_logger, pilot, text);
        }
    }

    /// <summary>The output of file <c>index</c>: its number (sorting as the inputs do) and the input's own name.</summary>
    public static string OutputName(int index, string input, string format)
    {
        ArgumentNullException.ThrowIfNull(input);
        var name = Path.GetFileNameWithoutExtension(input.Split('?', '#')[0].TrimEnd('/').Split('/')[^1]);
        var safe = new string([.. name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_')]);
        return $"{index:D5}-{(safe.Length == 0 ? "file" : safe[..Math.Min(safe.Length, 100)])}.{(format == "arrow" ? "arrow" : "parquet")}";
    }

    /// <summary>The log scope of a transform: its request id and its user.</summary>
    public IDisposable Scope(TransformRecord transform)
    {
        ArgumentNullException.ThrowIfNull(transform);
        var request = _logger.BeginScope(new AttributeLogScope(ShoppeAttributes.RequestId, transform.RequestId));
        var user = _logger.BeginScope(new AttributeLogScope(ShoppeAttributes.EndUser, transform.Owner));
        return new Scopes(user, request);
    }

    private bool IsShareable(string output) => Path.GetFullPath(output).StartsWith(_outputRoot, StringComparison.Ordinal);

    private static string Where(string holder) => holder.StartsWith(TransformRunner.HolderPrefix, StringComparison.Ordinal) ? holder : "pilot " + holder;

    private async Task DoneAsync(FileLease lease, TransformRecord transform, string input, TransformResult result, bool reused, CancellationToken cancellationToken)
    {
        _files.Add(1, new KeyValuePair<string, object?>("outcome", "done"), new KeyValuePair<string, object?>("worker", lease.Holder.StartsWith(TransformRunner.HolderPrefix, StringComparison.Ordinal) ? "instance" : "pilot"));
        _events.Add(result.EventsIn, new KeyValuePair<string, object?>("direction", "in"));
        _events.Add(result.EventsOut, new KeyValuePair<string, object?>("direction", "out"));
        var worker = Where(lease.Holder);
        var seconds = result.Elapsed.TotalSeconds;
        using (Scope(transform))
        {
            if (reused)
            {
                LogReused(_logger, lease.Index + 1, input);
            }
            else
            {
                LogFileDone(_logger, lease.Index + 1, transform.FilesTotal, input, result.EventsIn, result.EventsOut, result.BytesIn, seconds, worker);
            }
        }

        await TryFinishAsync(transform.RequestId, cancellationToken);
    }

    /// <summary>Ends the transform when none of its files waits or runs; only the caller that ends it logs its last record.</summary>
    private async Task TryFinishAsync(string requestId, CancellationToken cancellationToken)
    {
        if (await _store.HasOpenFilesAsync(requestId, cancellationToken) || await GetAsync(requestId, cancellationToken) is not { } transform)
        {
            return;
        }

        // Counts and sums from the store, not every file's row (a transform may have 100 000 files).
        var summary = await _store.SummarizeAsync(requestId, cancellationToken);
        var total = summary.Counts.Values.Sum();
        var failed = summary.Count(FileStates.Failed);
        var state = failed == 0 ? TransformStates.Complete : failed == total ? TransformStates.Failed : TransformStates.Partial;
        if (!await _store.SetStateAsync(requestId, state, _time.GetUtcNow(), cancellationToken))
        {
            return; // Another worker, or another instance, ended it.
        }

        _records.TryRemove(requestId, out _);
        using var scope = Scope(transform);
        // The last record of the request: log followers (shoppe logs --follow) stop after it.
        using var final = _logger.BeginScope(new AttributeLogScope(ShoppeAttributes.RequestState, state == TransformStates.Complete ? "finished" : "failed"));
        if (failed == 0)
        {
            LogComplete(_logger, requestId, total, summary.EventsIn, summary.EventsOut, transform.OutputDirectory);
        }
        else
        {
            LogFinishedWithFailures(_logger, requestId, state, failed, total, summary.EventsIn, summary.EventsOut);
        }
    }

    private sealed class Scopes(IDisposable? inner, IDisposable? outer) : IDisposable
    {
        public void Dispose()
        {
            inner?.Dispose();
            outer?.Dispose();
        }
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "File {Number} of {Total} done ({Input}): {EventsIn} events read, {EventsOut} written, {BytesIn} bytes fetched, in {Seconds:0.000} s on {Worker}")]
    private static partial void LogFileDone(ILogger logger, int number, int total, string input, long eventsIn, long eventsOut, long bytesIn, double seconds, string worker);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "File {Number} ({Input}) failed on attempt {Attempt} of {MaxAttempts}; trying again in {Seconds:0.#} s ({Worker}): {Error}")]
    private static partial void LogRetrying(ILogger logger, int number, string input, int attempt, int maxAttempts, double seconds, string worker, string error);

    [LoggerMessage(EventId = 3, Level = LogLevel.Error, Message = "File {Number} ({Input}) failed after {Attempts} attempt(s) ({Worker}): {Error}")]
    private static partial void LogFileFailed(ILogger logger, int number, string input, int attempts, string worker, string error);

    [LoggerMessage(EventId = 4, Level = LogLevel.Information, Message = "Transform {RequestId} complete: {Files} files, {EventsIn} events read, {EventsOut} written to {Output}")]
    private static partial void LogComplete(ILogger logger, string requestId, int files, long eventsIn, long eventsOut, string output);

    [LoggerMessage(EventId = 5, Level = LogLevel.Error, Message = "Transform {RequestId} finished {State}: {Failed} of {Files} files failed; {EventsIn} events read, {EventsOut} written")]
    private static partial void LogFinishedWithFailures(ILogger logger, string requestId, string state, int failed, int files, long eventsIn, long eventsOut);

    [LoggerMessage(EventId = 6, Level = LogLevel.Warning, Message = "File {Number}: its worker {Worker} went silent on attempt {Attempt} (lease expired); {Next}")]
    private static partial void LogLeaseExpired(ILogger logger, int number, string worker, int attempt, string next);

    [LoggerMessage(EventId = 7, Level = LogLevel.Information, Message = "Transform {RequestId} cancelled")]
    private static partial void LogCancelled(ILogger logger, string requestId);

    [LoggerMessage(EventId = 9, Level = LogLevel.Information, Message = "File {Number} ({Input}): the same query over the same version of this file was delivered before; its output is reused")]
    private static partial void LogReused(ILogger logger, int number, string input);

    [LoggerMessage(EventId = 11, Level = LogLevel.Information, Message = "[pilot {Pilot}] {Text}")]
    private static partial void LogPilotOutput(ILogger logger, string pilot, string text);

    [LoggerMessage(EventId = 12, Level = LogLevel.Warning, Message = "[pilot {Pilot}] {Text}")]
    private static partial void LogPilotError(ILogger logger, string pilot, string text);
}
