using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Options;
using Shoppe.Columnar;
using Shoppe.Delivery.Tasks;
using Shoppe.ServiceDefaults;
using Shoppe.ServiceDefaults.RequestIds;

namespace Shoppe.Delivery.Transforms;

/// <summary>
/// This instance's own workers (<see cref="DeliveryOptions.Workers"/>, none at a site where pilots do the work):
/// each claims a file from the <see cref="FileDispatcher"/> under a lease, runs the same <see cref="FileTask"/> a pilot
/// runs, with its output renamed into place, and reports. Alongside them it renews its leases (a file whose lease
/// is lost, to a cancel or to another instance that took it over, is stopped) and sweeps the store for leases that
/// went silent elsewhere. A stopping instance gives its leases back, so other workers take the files at once.
/// </summary>
public sealed partial class TransformRunner : BackgroundService
{
    public const string ActivitySourceName = "Shoppe.Delivery";

    /// <summary>How an instance's own workers name themselves in leases and logs.</summary>
    public const string HolderPrefix = "delivery@";

    private static readonly ActivitySource Source = new(ActivitySourceName);

    private readonly FileDispatcher _queue;
    private readonly TransformStore _store;
    private readonly DeliveryInputs _inputs;
    private readonly DeliveryOptions _options;
    private readonly ILogger<TransformRunner> _logger;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<(string RequestId, int Index), LocalFile> _running = new();

    public TransformRunner(FileDispatcher queue, TransformStore store, DeliveryInputs inputs, IOptions<DeliveryOptions> options, ILogger<TransformRunner> logger, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        _queue = queue;
        _store = store;
        _inputs = inputs;
        _options = options.Value;
        _logger = logger;
        _time = time;
    }

    /// <summary>This instance's name in leases: host, process and a random part.</summary>
    public string Holder { get; } = $"{HolderPrefix}{Environment.MachineName}-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..6]}";

    /// <summary>Stops this instance's running files of a cancelled transform at once (other workers stop at their next renewal).</summary>
    public void StopLocal(string requestId)
    {
        foreach (var file in _running.Where(r => r.Key.RequestId == requestId))
        {
            file.Value.Stop();
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var loops = Enumerable.Range(0, _options.Workers).Select(_ => Task.Run(() => WorkAsync(stoppingToken), stoppingToken))
            .Append(Task.Run(() => RenewAsync(stoppingToken), stoppingToken))
            .Append(Task.Run(() => SweepAsync(stoppingToken), stoppingToken));
        try
        {
            await Task.WhenAll(loops);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task WorkAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            List<(FileTaskSpec Spec, TransformRecord Transform)> claimed;
            try
            {
                claimed = await _queue.ClaimAsync(Holder, 1, null, pilot: false, stoppingToken);
            }
            catch (Exception ex) when (ex is System.Data.Common.DbException or TimeoutException or InvalidOperationException && !stoppingToken.IsCancellationRequested)
            {
                LogStoreFailed(_logger, ex, "claim a file");
                await Task.Delay(TimeSpan.FromSeconds(1), _time, stoppingToken);
                continue;
            }

            if (claimed.Count == 0)
            {
                // Woken by a submission here; every half second it looks anyway (another instance's, a retry now due).
                await Task.WhenAny(_queue.Ready, Task.Delay(TimeSpan.FromMilliseconds(500), _time, stoppingToken));
                continue;
            }

            foreach (var (spec, transform) in claimed)
            {
                await RunAsync(spec, transform, stoppingToken);
            }
        }
    }

    private async Task RunAsync(FileTaskSpec spec, TransformRecord transform, CancellationToken stoppingToken)
    {
        var lease = new FileLease(spec.RequestId, spec.Index, Holder, spec.Attempt);
        using var local = new LocalFile(lease, stoppingToken);
        _running[(spec.RequestId, spec.Index)] = local;
        using var requestId = RequestId.BeginScope(transform.RequestId);
        using var activity = Source.StartActivity("transform file");
        activity?.SetTag(ShoppeAttributes.RequestId, transform.RequestId);
        activity?.SetTag("shoppe.delivery.file_index", spec.Index);
        try
        {
            Directory.CreateDirectory(transform.OutputDirectory);
            var output = new LocalOutput(_queue, lease, transform, spec);
            var outcome = await FileTask.RunAsync(spec, _inputs.Opener, output, local.Token);
            if (outcome.Error is { } error)
            {
                activity?.SetStatus(ActivityStatusCode.Error, error);
                await _queue.FailAsync(lease, transform, spec.Input, error, outcome.Retry, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: the file goes back at once, for another worker (or this instance's next start).
            await TryReleaseAsync(lease);
        }
        catch (OperationCanceledException) when (local.Token.IsCancellationRequested)
        {
            // The lease was lost (the transform cancelled, or the file taken over): nothing to record.
        }
#pragma warning disable CA1031 // whatever failed around the file (the store, the disk), the worker goes on and the file is accounted for
        catch (Exception ex)
#pragma warning restore CA1031
        {
            // A failure around the file, not in it: it counts as an attempt and is retried after the delay (a disk
            // that stays unwritable fails the file in the end, rather than spinning); if the store is what failed,
            // the lease expires and another worker takes the file.
            LogWorkerFailed(_logger, ex, spec.RequestId, spec.Index);
            try
            {
                await _queue.FailAsync(lease, transform, spec.Input, $"the delivery service failed around this file: {ex.Message}", retry: true, stoppingToken);
            }
            catch (Exception again) when (again is System.Data.Common.DbException or TimeoutException or InvalidOperationException or OperationCanceledException)
            {
                // The lease expires instead.
            }
        }
        finally
        {
            _running.TryRemove(new KeyValuePair<(string, int), LocalFile>((spec.RequestId, spec.Index), local));
        }
    }

    private async Task TryReleaseAsync(FileLease lease)
    {
        try
        {
            await _store.ReleaseAsync(lease, CancellationToken.None);
        }
        catch (Exception ex) when (ex is System.Data.Common.DbException or TimeoutException or InvalidOperationException)
        {
            // The lease expires instead.
        }
    }

    /// <summary>Renews this instance's leases a few times per lease; files whose lease is gone are stopped.</summary>
    private async Task RenewAsync(CancellationToken stoppingToken)
    {
        var period = _queue.Lease / 3;
        while (!stoppingToken.IsCancellationRequested)
        {
            await Task.Delay(period, _time, stoppingToken);
            var files = _running.Values.ToList();
            try
            {
                var lost = await _store.RenewAsync([.. files.Select(f => f.Lease)], _time.GetUtcNow() + _queue.Lease, stoppingToken);
                foreach (var file in files.Where(f => lost.Contains(f.Lease)))
                {
                    file.Stop();
                }
            }
            catch (Exception ex) when (ex is System.Data.Common.DbException or TimeoutException or InvalidOperationException && !stoppingToken.IsCancellationRequested)
            {
                LogStoreFailed(_logger, ex, "renew its leases");
            }
        }
    }

    /// <summary>Takes back silent leases and ends settled transforms, every few seconds (every instance does; the store keeps it to one).</summary>
    private async Task SweepAsync(CancellationToken stoppingToken)
    {
        var period = TimeSpan.FromSeconds(Math.Clamp(_options.LeaseSeconds / 4, 0.5, 5));
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await _queue.SweepAsync(stoppingToken);
            }
            catch (Exception ex) when (ex is System.Data.Common.DbException or TimeoutException or InvalidOperationException && !stoppingToken.IsCancellationRequested)
            {
                LogStoreFailed(_logger, ex, "sweep expired leases");
            }

            await Task.Delay(period, _time, stoppingToken);
        }
    }

    /// <summary>A file on one of this instance's workers: its lease and how to stop it.</summary>
    private sealed class LocalFile(FileLease lease, CancellationToken stopping) : IDisposable
    {
        private readonly CancellationTokenSource _stop = CancellationTokenSource.CreateLinkedTokenSource(stopping);

        public FileLease Lease { get; } = lease;

        public CancellationToken Token => _stop.Token;

        public void Stop()
        {
            try
            {
                _stop.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // Ended meanwhile.
            }
        }

        public void Dispose() => _stop.Dispose();
    }

    /// <summary>The output written beside its final name under a private one, renamed into place on commit.</summary>
    private sealed class LocalOutput(FileDispatcher queue, FileLease lease, TransformRecord transform, FileTaskSpec spec) : IFileOutput
    {
        public string WorkPath { get; } = Path.Combine(transform.OutputDirectory, $".{spec.OutputName}.{lease.Attempt}.{Guid.NewGuid().ToString("N")[..8]}.work");

        public async Task<TransformResult?> TryReuseAsync(string identity, CancellationToken cancellationToken)
        {
            var (outcome, result) = await queue.TryReuseAsync(lease, transform, spec.Input, identity, cancellationToken);
            return outcome switch
            {
                ReuseOutcome.LeaseLost => throw new LeaseLostException(spec.JobId),
                _ => result,
            };
        }

        public Task<bool> CommitAsync(TransformResult result, string? identity, CancellationToken cancellationToken) =>
            queue.CommitAsync(lease, transform, spec.Input, WorkPath, result, identity, trusted: true, cancellationToken);
    }

    [LoggerMessage(EventId = 8, Level = LogLevel.Error, Message = "A worker failed on file {Index} of transform {RequestId}; the file is given back and runs again")]
    private static partial void LogWorkerFailed(ILogger logger, Exception exception, string requestId, int index);

    [LoggerMessage(EventId = 13, Level = LogLevel.Warning, Message = "The delivery store failed while this instance tried to {What}; trying again")]
    private static partial void LogStoreFailed(ILogger logger, Exception exception, string what);
}
