using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;
using Shoppe.Columnar;
using Shoppe.Columnar.Io;
using Shoppe.Columnar.Selection;
using Shoppe.Security.Remotes;
using Shoppe.ServiceDefaults;
using Shoppe.ServiceDefaults.RequestIds;

namespace Shoppe.Delivery.Transforms;

/// <summary>
/// Runs transforms: <see cref="DeliveryOptions.Workers"/> workers take files from the <see cref="FairScheduler"/>,
/// transform each (reading through the cache) into its own output file, and record the result. A file that
/// fails in a way that may pass (the origin or cache unreachable, a 5xx) is retried with a growing delay; one that
/// cannot pass (not Parquet, a column it lacks) fails at once. At start, unfinished transforms resume: files
/// recorded done stay done, the rest run again.
/// </summary>
public sealed partial class TransformRunner : BackgroundService
{
    public const string ActivitySourceName = "Shoppe.Delivery";

    private static readonly ActivitySource Source = new(ActivitySourceName);

    private readonly TransformStore _store;
    private readonly FairScheduler _scheduler;
    private readonly DeliveryInputs _inputs;
    private readonly DeliveryOptions _options;
    private readonly ILogger<TransformRunner> _logger;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, ActiveTransform> _active = new(StringComparer.Ordinal);
    private readonly Counter<long> _files;
    private readonly string _outputRoot;
    private readonly Counter<long> _events;

    public TransformRunner(TransformStore store, FairScheduler scheduler, DeliveryInputs inputs, IOptions<DeliveryOptions> options, IOptions<ShoppeHostOptions> host, ILogger<TransformRunner> logger, TimeProvider time, IMeterFactory meters)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(host);
        _outputRoot = Path.TrimEndingDirectorySeparator(options.Value.ResolveOutputRoot(host.Value.DataRoot)) + Path.DirectorySeparatorChar;
        ArgumentNullException.ThrowIfNull(meters);
        _store = store;
        _scheduler = scheduler;
        _inputs = inputs;
        _options = options.Value;
        _logger = logger;
        _time = time;
        var meter = meters.Create(ActivitySourceName);
        _files = meter.CreateCounter<long>("shoppe.delivery.files", description: "Input files finished, by outcome");
        _events = meter.CreateCounter<long>("shoppe.delivery.events", description: "Events read and written");
        meter.CreateObservableGauge("shoppe.delivery.files.waiting", () => _scheduler.Waiting, description: "Files waiting for a worker");
    }

    /// <summary>Starts a new transform's files (its record and files are already stored).</summary>
    public void Start(TransformRecord transform, IReadOnlyList<string> inputs)
    {
        ArgumentNullException.ThrowIfNull(transform);
        ArgumentNullException.ThrowIfNull(inputs);
        if (!_active.TryAdd(transform.RequestId, new ActiveTransform(transform, inputs.Count)))
        {
            return; // resumed at start-up in the meantime: its files are queued already
        }

        for (var i = 0; i < inputs.Count; i++)
        {
            _scheduler.Enqueue(new FileWork(transform.RequestId, transform.Owner, i, inputs[i], 1));
        }
    }

    /// <summary>Cancels a running transform: waiting files are dropped, running ones stopped. False when it is not running here.</summary>
    public async Task<bool> CancelAsync(string requestId, CancellationToken cancellationToken)
    {
        if (!_active.TryRemove(requestId, out var active))
        {
            return false;
        }

        _scheduler.Remove(requestId);
        await active.Cancellation.CancelAsync();
        var now = _time.GetUtcNow();
        // Recorded whatever the caller does now: a client that goes away must not leave it half-cancelled.
        await _store.CancelFilesAsync(requestId, now, CancellationToken.None);
        await _store.SetStateAsync(requestId, TransformStates.Cancelled, now, CancellationToken.None);
        using (Scope(active.Transform))
        using (_logger.BeginScope(new AttributeLogScope(ShoppeAttributes.RequestState, "cancelled")))
        {
            LogCancelled(_logger, requestId);
        }

        return true;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await ResumeAsync(stoppingToken);
        var workers = Enumerable.Range(0, _options.Workers).Select(_ => Task.Run(() => WorkAsync(stoppingToken), stoppingToken));
        try
        {
            await Task.WhenAll(workers);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task ResumeAsync(CancellationToken cancellationToken)
    {
        foreach (var transform in await _store.ListUnfinishedAsync(cancellationToken))
        {
            var files = await _store.GetFilesAsync(transform.RequestId, cancellationToken);
            var open = files.Where(f => f.State is FileStates.Pending or FileStates.Running).ToList();
            var active = new ActiveTransform(transform, open.Count);
            if (!_active.TryAdd(transform.RequestId, active))
            {
                continue; // submitted while this ran, and started by its submission
            }

            using (Scope(transform))
            {
                var done = files.Count(f => f.State == FileStates.Done);
                LogResumed(_logger, transform.RequestId, open.Count, done);
            }

            if (open.Count == 0)
            {
                using (Scope(transform))
                {
                    await FinishAsync(active, cancellationToken);
                }

                continue;
            }

            foreach (var file in open)
            {
                _scheduler.Enqueue(new FileWork(transform.RequestId, transform.Owner, file.Index, file.Input, file.Attempts + 1));
            }
        }
    }

    private async Task WorkAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var work = await _scheduler.DequeueAsync(stoppingToken);
            if (!_active.TryGetValue(work.RequestId, out var active))
            {
                continue; // cancelled while it waited
            }

            try
            {
                await ProcessAsync(work, active, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                // Stopping: the file stays pending or running in the store and runs again at the next start.
                return;
            }
#pragma warning disable CA1031 // a worker must survive whatever one file does; the failure is recorded and logged
            catch (Exception ex)
#pragma warning restore CA1031
            {
                // The store failed (a database outage): count the file as failed so the transform still ends.
                using (Scope(active.Transform))
                {
                    LogWorkerFailed(_logger, ex, work.RequestId, work.Index);
                }

                await SettleAfterFailureAsync(work, active, ex, stoppingToken);
            }
        }
    }

    private async Task ProcessAsync(FileWork work, ActiveTransform active, CancellationToken stoppingToken)
    {
        var transform = active.Transform;
        using var scope = Scope(transform);
        using var requestId = RequestId.BeginScope(transform.RequestId);
        using var activity = Source.StartActivity("transform file");
        activity?.SetTag(ShoppeAttributes.RequestId, transform.RequestId);
        activity?.SetTag("shoppe.delivery.file_index", work.Index);
        using var cancellation = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, active.Cancellation.Token);
        var token = cancellation.Token;

        if (Interlocked.Exchange(ref active.Started, 1) == 0)
        {
            await _store.SetStateAsync(transform.RequestId, TransformStates.Running, _time.GetUtcNow(), stoppingToken);
        }

        await _store.FileStartedAsync(transform.RequestId, work.Index, work.Attempt, _time.GetUtcNow(), stoppingToken);
        var output = Path.Combine(transform.OutputDirectory, OutputName(work, transform.Format));
        string? error = null;
        var retry = false;
        try
        {
            Directory.CreateDirectory(transform.OutputDirectory);
            using var input = await _inputs.OpenAsync(work.Input, token);
            var format = transform.Format == "arrow" ? OutputFormat.Arrow : OutputFormat.Parquet;
            // Outputs are shared only within the service's own folder: a file in a user's destination could be
            // changed by that user, so it is never offered to others (and others' are copied, not linked, into it).
            var shareable = Path.GetFullPath(output).StartsWith(_outputRoot, StringComparison.Ordinal);
            var key = input.Identity is { } identity ? OutputCache.Key(transform, work.Input, identity) : null;
            var result = key is null ? null : await OutputCache.TryReuseAsync(_store, key, output, link: shareable, token);
            if (result is not null)
            {
                LogReused(_logger, work.Index + 1, work.Input);
            }
            else
            {
                result = await Task.Run(() => FileTransform.Run(input, transform.Columns, transform.Filter, output, format, token), token);
                if (key is not null && shareable)
                {
                    await _store.RememberOutputAsync(key, new CachedOutput(output, result.EventsIn, result.EventsOut, result.BytesOut), _time.GetUtcNow(), stoppingToken);
                }
            }

            await _store.FileDoneAsync(transform.RequestId, work.Index, result, Path.GetFileName(output), _time.GetUtcNow(), stoppingToken);
            _files.Add(1, new KeyValuePair<string, object?>("outcome", "done"));
            _events.Add(result.EventsIn, new KeyValuePair<string, object?>("direction", "in"));
            _events.Add(result.EventsOut, new KeyValuePair<string, object?>("direction", "out"));
            LogFileDone(_logger, work.Index + 1, transform.FilesTotal, work.Input, result.EventsIn, result.EventsOut, result.BytesIn, result.Elapsed.TotalSeconds);
        }
        catch (OperationCanceledException) when (active.Cancellation.IsCancellationRequested && !stoppingToken.IsCancellationRequested)
        {
            return; // the transform was cancelled; CancelAsync recorded it
        }
        catch (OperationCanceledException ex) when (!token.IsCancellationRequested)
        {
            // Not ours: an HTTP timeout (the origin or cache stopped answering). It may pass.
            error = $"reading {work.Input} timed out: {ex.Message}";
            retry = true;
        }
        catch (ColumnarInputException ex)
        {
            error = ex.Message;
            // A remote Delivery:AllowedRemotes refuses stays refused: no second try.
            retry = ex.IsTransient && RemoteNotAllowedException.FindIn(ex) is null;
        }
        catch (Exception ex) when (ex is SelectionException or ColumnarDataException)
        {
            error = $"{Path.GetFileName(work.Input)}: {ex.Message}";
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            error = $"writing {Path.GetFileName(output)} failed: {ex.Message}";
            retry = true;
        }
        catch (HttpRequestException ex)
        {
            error = ex.Message;
            retry = RemoteNotAllowedException.FindIn(ex) is null;
        }
#pragma warning disable CA1031 // one file's unexpected failure is that file's error, reported to its user; the worker goes on
        catch (Exception ex) when (ex is not OperationCanceledException)
#pragma warning restore CA1031
        {
            error = $"{Path.GetFileName(work.Input)}: {ex.GetType().Name}: {ex.Message}";
        }

        if (error is not null)
        {
            activity?.SetStatus(ActivityStatusCode.Error, error);
            if (retry && work.Attempt < _options.MaxAttempts)
            {
                var delay = _options.RetryDelay * Math.Pow(2, work.Attempt - 1);
                await _store.FileFailedAsync(transform.RequestId, work.Index, FileStates.Pending, error, _time.GetUtcNow(), stoppingToken);
                LogRetrying(_logger, work.Index + 1, work.Input, work.Attempt, _options.MaxAttempts, delay.TotalSeconds, error);
                _ = RetryLaterAsync(work with { Attempt = work.Attempt + 1 }, delay, stoppingToken);
                return;
            }

            await _store.FileFailedAsync(transform.RequestId, work.Index, FileStates.Failed, error, _time.GetUtcNow(), stoppingToken);
            _files.Add(1, new KeyValuePair<string, object?>("outcome", "failed"));
            LogFileFailed(_logger, work.Index + 1, work.Input, work.Attempt, error);
        }

        if (Interlocked.Decrement(ref active.Remaining) == 0)
        {
            await FinishAsync(active, stoppingToken);
        }
    }

    private async Task SettleAfterFailureAsync(FileWork work, ActiveTransform active, Exception failure, CancellationToken stoppingToken)
    {
        try
        {
            await _store.FileFailedAsync(work.RequestId, work.Index, FileStates.Failed, $"the delivery service failed on this file: {failure.Message}", _time.GetUtcNow(), stoppingToken);
        }
#pragma warning disable CA1031 // the store may still be down; the count below is what lets the transform end
        catch (Exception)
#pragma warning restore CA1031
        {
        }

        if (Interlocked.Decrement(ref active.Remaining) == 0)
        {
            using (Scope(active.Transform))
            {
                try
                {
                    await FinishAsync(active, stoppingToken);
                }
#pragma warning disable CA1031 // logged; a restart resumes the transform and finishes it
                catch (Exception ex)
#pragma warning restore CA1031
                {
                    LogWorkerFailed(_logger, ex, work.RequestId, work.Index);
                }
            }
        }
    }

    private async Task RetryLaterAsync(FileWork work, TimeSpan delay, CancellationToken stoppingToken)
    {
        try
        {
            await Task.Delay(delay, _time, stoppingToken);
            if (_active.ContainsKey(work.RequestId))
            {
                _scheduler.Enqueue(work);
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping: the file is pending in the store and resumes at the next start.
        }
    }

    /// <summary>Records a transform's end and logs its last record (inside the caller's request scope).</summary>
    private async Task FinishAsync(ActiveTransform active, CancellationToken cancellationToken)
    {
        var transform = active.Transform;
        if (!_active.TryRemove(new KeyValuePair<string, ActiveTransform>(transform.RequestId, active)))
        {
            return;
        }

        // Counts and sums from the store, not every file's row (a transform may have 100 000 files).
        var summary = await _store.SummarizeAsync(transform.RequestId, cancellationToken);
        var total = summary.Counts.Values.Sum();
        var failed = summary.Count(FileStates.Failed);
        var state = failed == 0 ? TransformStates.Complete : failed == total ? TransformStates.Failed : TransformStates.Partial;
        await _store.SetStateAsync(transform.RequestId, state, _time.GetUtcNow(), cancellationToken);
        // The last record of the request: log followers (shoppe logs --follow) stop after it.
        using var final = _logger.BeginScope(new AttributeLogScope(ShoppeAttributes.RequestState, state == TransformStates.Complete ? "finished" : "failed"));
        if (failed == 0)
        {
            LogComplete(_logger, transform.RequestId, total, summary.EventsIn, summary.EventsOut, transform.OutputDirectory);
        }
        else
        {
            LogFinishedWithFailures(_logger, transform.RequestId, state, failed, total, summary.EventsIn, summary.EventsOut);
        }
    }

    private Scopes Scope(TransformRecord transform)
    {
        var request = _logger.BeginScope(new AttributeLogScope(ShoppeAttributes.RequestId, transform.RequestId));
        var user = _logger.BeginScope(new AttributeLogScope(ShoppeAttributes.EndUser, transform.Owner));
        return new Scopes(user, request);
    }

    private sealed class Scopes(IDisposable? inner, IDisposable? outer) : IDisposable
    {
        public void Dispose()
        {
            inner?.Dispose();
            outer?.Dispose();
        }
    }

    /// <summary>The output of file <c>index</c>: its number (sorting as the inputs do) and the input's own name.</summary>
    public static string OutputName(FileWork work, string format)
    {
        ArgumentNullException.ThrowIfNull(work);
        var name = Path.GetFileNameWithoutExtension(work.Input.Split('?', '#')[0].TrimEnd('/').Split('/')[^1]);
        var safe = new string([.. name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_')]);
        return $"{work.Index:D5}-{(safe.Length == 0 ? "file" : safe[..Math.Min(safe.Length, 100)])}.{(format == "arrow" ? "arrow" : "parquet")}";
    }

    private sealed class ActiveTransform(TransformRecord transform, int remaining)
    {
        public TransformRecord Transform { get; } = transform;

        public CancellationTokenSource Cancellation { get; } = new();

#pragma warning disable SA1401, CA1051 // updated with Interlocked
        public int Remaining = remaining;

        public int Started;
#pragma warning restore SA1401, CA1051
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "File {Number} of {Total} done ({Input}): {EventsIn} events read, {EventsOut} written, {BytesIn} bytes fetched, in {Seconds:0.000} s")]
    private static partial void LogFileDone(ILogger logger, int number, int total, string input, long eventsIn, long eventsOut, long bytesIn, double seconds);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "File {Number} ({Input}) failed on attempt {Attempt} of {MaxAttempts}; trying again in {Seconds:0.#} s: {Error}")]
    private static partial void LogRetrying(ILogger logger, int number, string input, int attempt, int maxAttempts, double seconds, string error);

    [LoggerMessage(EventId = 3, Level = LogLevel.Error, Message = "File {Number} ({Input}) failed after {Attempts} attempt(s): {Error}")]
    private static partial void LogFileFailed(ILogger logger, int number, string input, int attempts, string error);

    [LoggerMessage(EventId = 4, Level = LogLevel.Information, Message = "Transform {RequestId} complete: {Files} files, {EventsIn} events read, {EventsOut} written to {Output}")]
    private static partial void LogComplete(ILogger logger, string requestId, int files, long eventsIn, long eventsOut, string output);

    [LoggerMessage(EventId = 5, Level = LogLevel.Error, Message = "Transform {RequestId} finished {State}: {Failed} of {Files} files failed; {EventsIn} events read, {EventsOut} written")]
    private static partial void LogFinishedWithFailures(ILogger logger, string requestId, string state, int failed, int files, long eventsIn, long eventsOut);

    [LoggerMessage(EventId = 6, Level = LogLevel.Information, Message = "Transform {RequestId} resumed after a restart: {Open} files to run, {Done} already done")]
    private static partial void LogResumed(ILogger logger, string requestId, int open, int done);

    [LoggerMessage(EventId = 7, Level = LogLevel.Information, Message = "Transform {RequestId} cancelled")]
    private static partial void LogCancelled(ILogger logger, string requestId);

    [LoggerMessage(EventId = 9, Level = LogLevel.Information, Message = "File {Number} ({Input}): the same query over the same version of this file was delivered before; its output is reused")]
    private static partial void LogReused(ILogger logger, int number, string input);

    [LoggerMessage(EventId = 8, Level = LogLevel.Error, Message = "A worker failed on file {Index} of transform {RequestId}")]
    private static partial void LogWorkerFailed(ILogger logger, Exception exception, string requestId, int index);
}
