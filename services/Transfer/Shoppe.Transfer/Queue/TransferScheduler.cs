using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Threading.Channels;
using Microsoft.AspNetCore.DataProtection;
using Shoppe.Security.Remotes;
using Shoppe.ServiceDefaults;
using Shoppe.ServiceDefaults.RequestIds;
using Shoppe.Transfer.Tpc;

namespace Shoppe.Transfer.Queue;

/// <summary>
/// Runs queued copies: each asks the destination to pull from the source (HTTP-TPC), follows its performance
/// markers, and records the outcome. At most <see cref="TransferOptions.MaxPerEndpointPair"/> copies run between one
/// pair of endpoints; a failure that may pass (the destination unreachable, 5xx, a remote that went quiet) is retried
/// with a doubling delay up to <see cref="TransferOptions.MaxAttempts"/>. A copy's tokens are kept with it, encrypted
/// (<paramref name="protector"/>), until it ends, so a restarted service goes on with what was queued or running: a
/// copy is atomic at the destination (a temporary file, renamed when complete), so one cut off runs again whole.
/// </summary>
public sealed partial class TransferScheduler(TransferJobs jobs, RemotePolicy policy, IDataProtector protector, TransferOptions options, ILogger<TransferScheduler> logger) : BackgroundService
{
    /// <summary>The Data Protection purpose of queued copies' tokens.</summary>
    public const string TokenPurpose = "Shoppe.Transfer.QueuedCopyTokens";

    private readonly Channel<Work> _queue = Channel.CreateUnbounded<Work>();
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _pairs = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _progress = new(StringComparer.Ordinal);
    // Sources and destinations are users' URLs: connections only where Transfer:AllowedRemotes allows.
    private readonly HttpClient _http = new(policy.Handler(TimeSpan.FromSeconds(10))) { Timeout = Timeout.InfiniteTimeSpan };

    private sealed record Work(TransferJob Job, string? SourceToken, string? DestinationToken);

    /// <summary>Bytes moved so far by a running copy (from its markers), or null.</summary>
    public long? Progress(string id) => _progress.TryGetValue(id, out var bytes) ? bytes : null;

    /// <summary>The source's size, asked with a HEAD (with the source token); null and a reason when it cannot be read.</summary>
    public async Task<(long? Size, string? Error)> ProbeAsync(string source, string? token, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Head, source);
        if (token is { Length: > 0 })
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(30));
            using var response = await _http.SendAsync(request, timeout.Token);
            return response.IsSuccessStatusCode
                ? (response.Content.Headers.ContentLength, null)
                : (null, $"the source answered {(int)response.StatusCode} {response.ReasonPhrase}");
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException)
        {
            return (null, $"the source could not be reached: {ex.Message}");
        }
    }

    /// <summary>Queues a new copy; false when its request id is taken.</summary>
    public bool TryEnqueue(TransferJob job, string? sourceToken, string? destinationToken)
    {
        if (!jobs.TryInsert(job, Protect(sourceToken), Protect(destinationToken)))
        {
            return false;
        }

        _queue.Writer.TryWrite(new Work(job, sourceToken, destinationToken));
        return true;
    }

    private byte[]? Protect(string? token) => string.IsNullOrEmpty(token) ? null : protector.Protect(System.Text.Encoding.UTF8.GetBytes(token));

    private string? Unprotect(byte[]? token) => token is null ? null : System.Text.Encoding.UTF8.GetString(protector.Unprotect(token));

    /// <summary>Queues again what a stopped service left queued or running; a copy whose tokens cannot be read back fails.</summary>
    private void Resume()
    {
        foreach (var (job, sourceToken, destinationToken) in jobs.Unfinished())
        {
            using var scope = logger.BeginScope(new AttributeLogScope(ShoppeAttributes.RequestId, job.RequestId));
            try
            {
                var work = new Work(job with { State = "queued" }, Unprotect(sourceToken), Unprotect(destinationToken));
                jobs.Save(work.Job);
                _queue.Writer.TryWrite(work);
                LogResumed(logger, job.Source, job.Destination, job.State);
            }
            catch (System.Security.Cryptography.CryptographicException ex)
            {
                jobs.Save(job with { State = "failed", Error = "the transfer service restarted and could not read this copy's tokens back; submit it again", Finished = DateTimeOffset.UtcNow });
                LogFailed(logger, job.Source, job.Destination, job.Attempts, $"its tokens could not be read back after a restart: {ex.Message}");
            }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        Resume();
        var running = new List<Task>();
        await foreach (var work in _queue.Reader.ReadAllAsync(stoppingToken))
        {
            running.RemoveAll(t => t.IsCompleted);
            running.Add(RunAsync(work, stoppingToken));
        }

        await Task.WhenAll(running);
    }

    private static string Pair(TransferJob job) => $"{new Uri(job.Source).Authority}->{new Uri(job.Destination).Authority}";

    private async Task RunAsync(Work work, CancellationToken stoppingToken)
    {
        var job = work.Job;
        using var scope = logger.BeginScope(new AttributeLogScope(ShoppeAttributes.RequestId, job.RequestId));
        using var user = logger.BeginScope(new AttributeLogScope(ShoppeAttributes.EndUser, job.Owner));
        using var requestId = RequestId.BeginScope(job.RequestId);
        var gate = _pairs.GetOrAdd(Pair(job), _ => new SemaphoreSlim(options.MaxPerEndpointPair));
        try
        {
            // A copy resumed after a restart goes on counting its attempts.
            for (var attempt = job.Attempts + 1; ; attempt++)
            {
                await gate.WaitAsync(stoppingToken);
                string? error;
                bool transient;
                try
                {
                    job = job with { State = "running", Attempts = attempt, Started = job.Started ?? DateTimeOffset.UtcNow };
                    jobs.Save(job);
                    (error, transient) = await CopyOnceAsync(work with { Job = job }, stoppingToken);
                }
                finally
                {
                    gate.Release();
                }

                var bytes = _progress.GetValueOrDefault(job.RequestId);
                if (error is null)
                {
                    job = job with { State = "done", Bytes = job.Size ?? bytes, Error = null, Finished = DateTimeOffset.UtcNow };
                    jobs.Save(job);
                    using (logger.BeginScope(new AttributeLogScope(ShoppeAttributes.RequestState, "finished")))
                    {
                        LogDone(logger, job.Source, job.Destination, job.Bytes, attempt);
                    }

                    return;
                }

                if (!transient || attempt >= options.MaxAttempts)
                {
                    job = job with { State = "failed", Bytes = bytes, Error = error, Finished = DateTimeOffset.UtcNow };
                    jobs.Save(job);
                    using (logger.BeginScope(new AttributeLogScope(ShoppeAttributes.RequestState, "failed")))
                    {
                        LogFailed(logger, job.Source, job.Destination, attempt, error);
                    }

                    return;
                }

                var delay = options.RetryDelay * Math.Pow(2, attempt - 1);
                job = job with { State = "queued", Error = error };
                jobs.Save(job);
                LogRetrying(logger, attempt, options.MaxAttempts, delay.TotalSeconds, error);
                await Task.Delay(delay, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: the job stays queued or running with its tokens, and the next start goes on with it.
        }
#pragma warning disable CA1031 // whatever went wrong, the job must end as failed, not stay running
        catch (Exception ex)
#pragma warning restore CA1031
        {
            LogFailed(logger, job.Source, job.Destination, job.Attempts, ex.Message);
            try
            {
                jobs.Save(job with { State = "failed", Error = $"the transfer service failed: {ex.Message}", Finished = DateTimeOffset.UtcNow });
            }
#pragma warning disable CA1031 // the store itself failed; the next start marks the job failed
            catch (Exception)
#pragma warning restore CA1031
            {
            }
        }
        finally
        {
            _progress.TryRemove(job.RequestId, out _);
        }
    }

    /// <summary>One COPY: null on success, else the reason and whether another try may pass.</summary>
    private async Task<(string? Error, bool Transient)> CopyOnceAsync(Work work, CancellationToken stoppingToken)
    {
        var job = work.Job;
        using var request = new HttpRequestMessage(new HttpMethod("COPY"), job.Destination);
        request.Headers.TryAddWithoutValidation("Source", job.Source);
        request.Headers.TryAddWithoutValidation("Credential", "none");
        if (work.DestinationToken is { Length: > 0 } destination)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", destination);
        }

        if (work.SourceToken is { Length: > 0 } source)
        {
            request.Headers.TryAddWithoutValidation(ThirdPartyCopy.TransferHeaderPrefix + "Authorization", "Bearer " + source);
        }

        if (job.VerifyChecksum)
        {
            request.Headers.TryAddWithoutValidation("RequireChecksumVerification", "true");
        }

        // A destination that goes quiet (no marker for RemoteTimeout) fails the attempt instead of holding its pair's slot.
        using var quiet = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        quiet.CancelAfter(options.RemoteTimeout);
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, quiet.Token);
            if (!response.IsSuccessStatusCode)
            {
                var start = new byte[300];
                await using var errorBody = await response.Content.ReadAsStreamAsync(quiet.Token);
                var n = await errorBody.ReadAtLeastAsync(start, start.Length, throwOnEndOfStream: false, quiet.Token);
                return ($"the destination refused the copy: {(int)response.StatusCode} {System.Text.Encoding.UTF8.GetString(start, 0, n).ReplaceLineEndings(" ")}", (int)response.StatusCode >= 500);
            }

            var outcome = await PerfMarkers.ReadAsync(await response.Content.ReadAsStreamAsync(quiet.Token), marker =>
            {
                _progress[job.RequestId] = marker.BytesTransferred;
                quiet.CancelAfter(options.RemoteTimeout);
            }, quiet.Token);
            if (outcome.Success)
            {
                return (null, false);
            }

            // A remote's 4xx (missing, forbidden) will not pass; an unreachable or failing remote may.
            var permanent = System.Text.RegularExpressions.Regex.IsMatch(outcome.Message, @"status code 4\d\d|[Cc]hecksum|file exists");
            return (outcome.Message, !permanent);
        }
        catch (HttpRequestException ex)
        {
            return ($"the destination could not be reached: {ex.Message}", true);
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException)
        {
            return ($"the copy's answer broke off: {ex.Message}", true);
        }
        catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
        {
            return ($"the destination sent no marker for {options.RemoteTimeout.TotalSeconds:0} s", true);
        }
    }

    public override void Dispose()
    {
        _http.Dispose();
        foreach (var gate in _pairs.Values)
        {
            gate.Dispose();
        }

        base.Dispose();
    }

    [LoggerMessage(EventId = 20, Level = LogLevel.Information, Message = "Copied {Source} to {Destination}: {Bytes} bytes, attempt {Attempt}")]
    private static partial void LogDone(ILogger logger, string source, string destination, long bytes, int attempt);

    [LoggerMessage(EventId = 21, Level = LogLevel.Error, Message = "Copy of {Source} to {Destination} failed after {Attempts} attempt(s): {Error}")]
    private static partial void LogFailed(ILogger logger, string source, string destination, int attempts, string error);

    [LoggerMessage(EventId = 22, Level = LogLevel.Warning, Message = "Copy attempt {Attempt} of {MaxAttempts} failed; trying again in {Seconds:0.#} s: {Error}")]
    private static partial void LogRetrying(ILogger logger, int attempt, int maxAttempts, double seconds, string error);

    [LoggerMessage(EventId = 23, Level = LogLevel.Information, Message = "Copy of {Source} to {Destination} goes on after a restart (it was {State})")]
    private static partial void LogResumed(ILogger logger, string source, string destination, string state);
}
