using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;

namespace Shoppe.Workflow.Pilots;

/// <summary>What a pilot is told when it starts.</summary>
public sealed record PilotOptions
{
    /// <summary>The service the jobs come from: the workflow service, or the delivery service (its files' tasks).</summary>
    public required Uri Server { get; init; }

    /// <summary>A token with the <c>pilot</c> role (any user's jobs), or a user's own (only that user's jobs).</summary>
    public required string Token { get; init; }

    /// <summary>Cores this pilot may keep busy: one process per core a job asks for.</summary>
    public int Cores { get; init; } = Environment.ProcessorCount;

    /// <summary>Where jobs without a working folder of their own run (a folder per job) and write their outputs file.</summary>
    public required string WorkDirectory { get; init; }

    /// <summary>Run only this job, then exit (the pilot of a heavy job's own batch job).</summary>
    public string? Only { get; init; }

    /// <summary>Exit after this long without a job (pilots in a batch queue give their slot back); null: never.</summary>
    public TimeSpan? IdleExit { get; init; }

    /// <summary>How long the service may hold an exchange while it has nothing to give.</summary>
    public TimeSpan LongPoll { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>The most jobs asked for in one exchange (no-op jobs take no core, so a pilot asks for a batch of them).</summary>
    public int MaxBatch { get; init; } = 1000;

    /// <summary>The in-process task kinds this pilot runs, by <see cref="PilotTask.Kind"/> (a delivery's file tasks).</summary>
    public IReadOnlyDictionary<string, IPilotTask> Tasks { get; init; } = new Dictionary<string, IPilotTask>(StringComparer.Ordinal);

    /// <summary>The cores' count, shared with this pilot's runners for other services.</summary>
    public CoreBudget Budget { get; init; } = new();

    /// <summary>The pilot's id; by default host, process id and a random part.</summary>
    public string Id { get; init; } = $"{Environment.MachineName}-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..6]}";
}

/// <summary>What a pilot did, for its caller's last line.</summary>
public sealed record PilotSummary(long JobsRun, long JobsSucceeded, long JobsFailed, long JobsStopped);

/// <summary>
/// The pilot: asks the workflow service for ready jobs, runs them (a process each; no-op jobs at once), and
/// reports how they ended, in one exchange that is also its heartbeat. It holds leases, not locks: a pilot that
/// goes silent loses its jobs to another pilot when their leases expire, and a result that comes after that is
/// refused, so a job succeeds at most once.
/// </summary>
public sealed class PilotRunner(PilotOptions options, HttpMessageHandler? handler = null, Action<string>? log = null) : IDisposable
{
    /// <summary>Output lines kept per job per exchange; the rest are counted and summarized in one line.</summary>
    private const int MaxLinesPerExchange = 2000;

    /// <summary>The largest outputs file read back (<c>$SHOPPE_OUTPUTS</c>).</summary>
    private const int MaxOutputsBytes = 64 * 1024;

    private readonly ConcurrentDictionary<string, RunningJob> _running = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<JobResult> _results = new();
    private readonly ConcurrentQueue<JobOutputLine> _output = new();
    // A coalescing signal: however many jobs end meanwhile, the loop wakes once.
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly ConcurrentQueue<RunningJob> _pending = new();
    private PilotTaskContext? _context;
    private int _ownBusy;
    private long _run, _succeeded, _failed, _stopped;

    /// <summary>Runs until cancelled, until idle for <see cref="PilotOptions.IdleExit"/>, or, with <see cref="PilotOptions.Only"/>, until that job ended.</summary>
    public async Task<PilotSummary> RunAsync(CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        using var http = handler is null ? new HttpClient() : new HttpClient(handler, disposeHandler: false);
        http.BaseAddress = options.Server;
        http.Timeout = options.LongPoll + TimeSpan.FromSeconds(60);
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", options.Token);
        Directory.CreateDirectory(options.WorkDirectory);
        // Tasks get a client of their own: an output upload may take longer than any exchange.
        using var tasksHttp = handler is null ? new HttpClient() : new HttpClient(handler, disposeHandler: false);
        tasksHttp.BaseAddress = options.Server;
        tasksHttp.Timeout = Timeout.InfiniteTimeSpan;
        tasksHttp.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", options.Token);
        var context = new PilotTaskContext(tasksHttp, options.WorkDirectory, options.Id, _output, options.Token);
        _context = context;
        var tasks = options.Tasks.Count == 0 ? null : options.Tasks.Keys.ToList();
        // Cores freed by a job of another service this pilot serves may start one waiting here.
        Action freed = () =>
        {
            LaunchPending();
            Wake();
        };
        options.Budget.Freed += freed;
        try
        {
            return await LoopAsync(http, tasks, cancellationToken);
        }
        finally
        {
            options.Budget.Freed -= freed;
        }
    }

    private async Task<PilotSummary> LoopAsync(HttpClient http, List<string>? tasks, CancellationToken cancellationToken)
    {
        var lastWork = Stopwatch.StartNew();
        var leaseSeconds = 60.0;
        var sinceExchange = Stopwatch.StartNew();
        var failures = 0;
        var onlyTaken = false;
        var prefetch = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            LaunchPending(); // Cores another runner freed while this one was in an exchange.
            var results = Drain(_results);
            var output = Drain(_output, MaxLinesPerExchange * 4);
            var free = Math.Max(0, options.Cores - options.Budget.Busy);
            // Process jobs: one per free core (a job asking for more cores waits here for them), and as many ahead
            // as the service says its jobs are worth holding (short tasks); no-op jobs: a batch.
            // Ahead only while this runner's own jobs hold the busy cores: a pilot busy with another service's long
            // job holds no file for it, and a job waiting here or in another runner for cores is not overtaken.
            var own = Volatile.Read(ref _ownBusy);
            var want = options.Only is not null ? (onlyTaken ? 0 : 1)
                : options.Budget.Waiting > _pending.Count(p => p.Job.Cores > 1) ? 0
                : prefetch > 0 && own == options.Budget.Busy ? Math.Max(0, free + (prefetch * options.Cores) - _pending.Count)
                : _pending.IsEmpty ? free : 0;
            var wantInstant = options.Only is not null ? 0 : options.MaxBatch;
            var idle = _running.IsEmpty && results.Count == 0 && output.Count == 0;
            var exchange = new PilotExchange(options.Id, want, _running.Values.Select(r => r.Lease).ToList(), results, output,
                options.Only, idle ? options.LongPoll.TotalSeconds : 0, null, wantInstant, tasks);
            PilotAssignment assignment;
            try
            {
                using var response = await http.PostAsJsonAsync("/v1/pilots/exchange", exchange, PilotJsonContext.Default.PilotExchange, cancellationToken);
                if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden or HttpStatusCode.BadRequest)
                {
                    throw new InvalidOperationException($"{options.Server} refused the pilot ({(int)response.StatusCode}): {await response.Content.ReadAsStringAsync(cancellationToken)}");
                }

                response.EnsureSuccessStatusCode();
                assignment = (await response.Content.ReadFromJsonAsync(PilotJsonContext.Default.PilotAssignment, cancellationToken))!;
                failures = 0;
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
            {
                // The service restarts or is busy: keep the results for the next try, and keep running what runs.
                foreach (var result in results)
                {
                    _results.Enqueue(result);
                }

                failures++;
                if (options.IdleExit is { } giveUp && _running.IsEmpty && lastWork.Elapsed > giveUp + options.LongPoll)
                {
                    // A pilot in a batch slot whose service is gone gives the slot back rather than wait for it.
                    log?.Invoke($"{options.Server} has not answered for {lastWork.Elapsed.TotalSeconds:0} s: leaving");
                    break;
                }

                log?.Invoke($"exchange with {options.Server} failed ({ex.Message}); retrying");
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(5000, 100 * (1 << Math.Min(failures, 6)))), cancellationToken);
                continue;
            }

            sinceExchange.Restart();
            leaseSeconds = assignment.LeaseSeconds;
            prefetch = Math.Clamp(assignment.Prefetch, 0, 16);
            foreach (var stop in assignment.Stop)
            {
                if (_running.TryGetValue(stop.Id, out var job) && job.Lease.Attempt == stop.Attempt)
                {
                    job.Stop();
                    if (!job.Launched)
                    {
                        _running.TryRemove(new KeyValuePair<string, RunningJob>(stop.Id, job)); // Never started: nothing will end it.
                    }
                }
            }

            foreach (var job in assignment.Jobs)
            {
                onlyTaken |= options.Only is not null;
                Start(job);
            }

            if (assignment.Jobs.Count > 0 || !_running.IsEmpty)
            {
                lastWork.Restart();
            }
            else if (options.IdleExit is { } idleExit && lastWork.Elapsed > idleExit)
            {
                log?.Invoke($"idle for {idleExit.TotalSeconds:0} s: leaving");
                break;
            }

            if (options.Only is not null && onlyTaken && _running.IsEmpty && _results.IsEmpty)
            {
                break;
            }

            if (!_results.IsEmpty || (assignment.Jobs.Count > 0 && options.Budget.Busy < options.Cores))
            {
                continue; // Report at once, and ask for more while cores are free.
            }

            if (_running.IsEmpty && assignment.Jobs.Count == 0 && exchange.WaitSeconds == 0)
            {
                continue; // Nothing running and nothing waited for: long-poll next time round.
            }

            // Wait for a job to end, or until the heartbeat is due (a third of the lease).
            var heartbeat = TimeSpan.FromSeconds(Math.Max(0.2, leaseSeconds / 3)) - sinceExchange.Elapsed;
            if (_running.IsEmpty && assignment.Jobs.Count == 0)
            {
                heartbeat = TimeSpan.Zero;
            }

            if (heartbeat > TimeSpan.Zero)
            {
                await _wake.WaitAsync(heartbeat, cancellationToken).ConfigureAwait(false);
            }
        }

        await StopAllAsync(http);
        return new PilotSummary(_run, _succeeded, _failed, _stopped);
    }

    /// <inheritdoc/>
    public void Dispose() => _wake.Dispose();

    private void Wake()
    {
        try
        {
            _wake.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already signalled.
        }
        catch (ObjectDisposedException)
        {
            // The runner has ended.
        }
    }

    private static List<T> Drain<T>(ConcurrentQueue<T> queue, int max = int.MaxValue)
    {
        var list = new List<T>();
        while (list.Count < max && queue.TryDequeue(out var item))
        {
            list.Add(item);
        }

        return list;
    }

    private void Start(PilotJob job)
    {
        Interlocked.Increment(ref _run);
        if (job.Task is { } task && !options.Tasks.ContainsKey(task.Kind))
        {
            Interlocked.Increment(ref _failed);
            _results.Enqueue(new JobResult(job.Id, job.Attempt, false, null, $"this pilot does not run '{task.Kind}' tasks", null, 0));
            return;
        }

        if (job.Argv.Count == 0 && job.Task is null)
        {
            // The no-op action: done as soon as it is received.
            Interlocked.Increment(ref _succeeded);
            _results.Enqueue(new JobResult(job.Id, job.Attempt, true, 0, null, null, 0));
            return;
        }

        var running = new RunningJob(job, options.WorkDirectory, job.Task is { } kind ? options.Tasks[kind.Kind] : null, _context!);
        if (_running.TryGetValue(job.Id, out var earlier))
        {
            // The same job again: a new lease after the old one was lost here. The old run is stopped.
            earlier.Stop();
        }

        _running[job.Id] = running;
        if (options.Budget.Busy + Math.Max(1, job.Cores) > options.Cores && options.Budget.Busy > 0)
        {
            if (job.Cores > 1)
            {
                options.Budget.Wait(1);
            }

            _pending.Enqueue(running); // Held (and heartbeated) until its cores are free.
            LaunchPending(); // The cores may have been freed between the check and the queue.
            return;
        }

        Launch(running);
    }

    private void Launch(RunningJob running)
    {
        var job = running.Job;
        running.Launched = true;
        options.Budget.Take(Math.Max(1, job.Cores));
        Interlocked.Add(ref _ownBusy, Math.Max(1, job.Cores));
        _ = Task.Run(async () =>
        {
            JobResult result;
            try
            {
                result = await running.RunAsync(_output, MaxLinesPerExchange);
            }
            catch (Exception ex)
            {
                result = new JobResult(job.Id, job.Attempt, false, null, $"the pilot could not run the job: {ex.Message}", null, 0);
            }

            _running.TryRemove(new KeyValuePair<string, RunningJob>(job.Id, running));
            running.Dispose();
            if (running.Stopped)
            {
                Interlocked.Increment(ref _stopped);
            }
            else
            {
                Interlocked.Increment(ref result.Succeeded ? ref _succeeded : ref _failed);
                _results.Enqueue(result);
            }

            // Last: giving the cores back launches what waits for them, here and in the pilot's other runners,
            // and wakes every runner's loop (this one reports the result).
            Interlocked.Add(ref _ownBusy, -Math.Max(1, job.Cores));
            options.Budget.Give(Math.Max(1, job.Cores));
        });
    }

    /// <summary>Starts the jobs held for cores, while the cores allow.</summary>
    private void LaunchPending()
    {
        lock (_pending)
        {
            while (_pending.TryPeek(out var next) && (options.Budget.Busy == 0 || options.Budget.Busy + Math.Max(1, next.Job.Cores) <= options.Cores)
                && _pending.TryDequeue(out next))
            {
                if (next.Job.Cores > 1)
                {
                    options.Budget.Wait(-1);
                }

                if (!next.Stopped)
                {
                    Launch(next);
                }
            }
        }
    }

    /// <summary>On the way out: stop what runs and give the leases back, so the jobs run again elsewhere at once.</summary>
    private async Task StopAllAsync(HttpClient http)
    {
        var leases = _running.Values.Select(r => r.Lease).ToList();
        foreach (var job in _running.Values)
        {
            job.Stop();
        }

        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            var last = new PilotExchange(options.Id, 0, [], Drain(_results), Drain(_output), options.Only, 0, leases);
            using var response = await http.PostAsJsonAsync("/v1/pilots/exchange", last, PilotJsonContext.Default.PilotExchange, timeout.Token);
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException)
        {
            // The leases expire instead.
        }
    }

    /// <summary>One job's process, its output and its outputs file.</summary>
    private sealed class RunningJob(PilotJob job, string workRoot, IPilotTask? task, PilotTaskContext context) : IDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private Process? _process;

        public PilotJob Job => job;

        public bool Launched { get; set; }

        public JobLease Lease { get; } = new(job.Id, job.Attempt);

        public bool Stopped { get; private set; }

        public void Dispose() => _stop.Dispose();

        public void Stop()
        {
            Stopped = true;
            try
            {
                _stop.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // Ended.
            }

            try
            {
                _process?.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // Already ended.
            }
        }

        public async Task<JobResult> RunAsync(ConcurrentQueue<JobOutputLine> output, int maxLines)
        {
            if (task is not null)
            {
                try
                {
                    return await task.RunAsync(job, context, _stop.Token);
                }
                catch (OperationCanceledException) when (_stop.IsCancellationRequested)
                {
                    return new JobResult(job.Id, job.Attempt, false, null, "stopped", null, 0);
                }
            }

            var folder = job.WorkingDirectory ?? Directory.CreateDirectory(Path.Combine(workRoot, SafeName(job.Id) + "." + job.Attempt)).FullName;
            var outputsFile = Path.Combine(workRoot, SafeName(job.Id) + "." + job.Attempt + ".outputs");
            var start = new ProcessStartInfo(job.Argv[0])
            {
                WorkingDirectory = folder,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                RedirectStandardInput = true,
                UseShellExecute = false,
            };
            foreach (var argument in job.Argv.Skip(1))
            {
                start.ArgumentList.Add(argument);
            }

            // The pilot's own secrets are not the job's: a user's job must not act as the pilot.
            foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("SHOPPE_", StringComparison.Ordinal)).ToList())
            {
                start.Environment.Remove(name);
            }

            foreach (var (name, value) in job.Environment ?? new Dictionary<string, string>())
            {
                start.Environment[name] = value;
            }

            start.Environment["SHOPPE_REQUEST_ID"] = job.Id;
            start.Environment["SHOPPE_JOB_ATTEMPT"] = job.Attempt.ToString(System.Globalization.CultureInfo.InvariantCulture);
            start.Environment["SHOPPE_OUTPUTS"] = outputsFile;
            var clock = Stopwatch.StartNew();
            try
            {
                _process = Process.Start(start) ?? throw new InvalidOperationException("the process did not start");
            }
            catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException)
            {
                return new JobResult(job.Id, job.Attempt, false, null, $"could not start {job.Argv[0]}: {ex.Message}", null, 0);
            }

            using var process = _process;
            process.StandardInput.Close();
            var lines = 0;
            var dropped = 0;
            void Line(string? text, bool error)
            {
                if (text is null)
                {
                    return;
                }

                if (Interlocked.Increment(ref lines) <= maxLines * 50)
                {
                    output.Enqueue(new JobOutputLine(job.Id, error, text.Length > 4096 ? text[..4096] + "…" : text));
                }
                else
                {
                    Interlocked.Increment(ref dropped);
                }
            }

            var stdout = PumpAsync(process.StandardOutput, false);
            var stderr = PumpAsync(process.StandardError, true);
            async Task PumpAsync(StreamReader reader, bool error)
            {
                while (await reader.ReadLineAsync() is { } text)
                {
                    Line(text, error);
                }
            }

            var timedOut = false;
            using (var timeout = job.TimeoutSeconds is { } seconds ? new CancellationTokenSource(TimeSpan.FromSeconds(seconds)) : new CancellationTokenSource())
            {
                try
                {
                    await process.WaitForExitAsync(timeout.Token);
                }
                catch (OperationCanceledException)
                {
                    timedOut = true;
                    process.Kill(entireProcessTree: true);
                    await process.WaitForExitAsync();
                }
            }

            // A process it left behind may hold the pipes open: the job has ended all the same.
            await Task.WhenAny(Task.WhenAll(stdout, stderr), Task.Delay(TimeSpan.FromSeconds(5)));
            if (dropped > 0)
            {
                output.Enqueue(new JobOutputLine(job.Id, true, $"[pilot] {dropped} more output lines were not kept"));
            }

            var outputs = ReadOutputs(outputsFile, out var outputsError);
            var exit = process.ExitCode;
            var succeeded = exit == 0 && !timedOut && outputsError is null;
            var error = timedOut ? $"timed out after {job.TimeoutSeconds} s"
                : Stopped ? "stopped"
                : exit != 0 ? $"exit code {exit}"
                : outputsError;
            if (job.WorkingDirectory is null && succeeded)
            {
                TryDelete(folder);
            }

            return new JobResult(job.Id, job.Attempt, succeeded, exit, error, outputs, clock.Elapsed.TotalSeconds);
        }

        private static Dictionary<string, string>? ReadOutputs(string path, out string? error)
        {
            error = null;
            if (!File.Exists(path))
            {
                return null;
            }

            try
            {
                if (new FileInfo(path).Length > MaxOutputsBytes)
                {
                    error = $"the outputs file is over {MaxOutputsBytes / 1024} KiB";
                    return null;
                }

                var text = File.ReadAllText(path);
                if (text.TrimStart().StartsWith('{'))
                {
                    return System.Text.Json.JsonSerializer.Deserialize(text, PilotJsonContext.Default.DictionaryStringString);
                }

                // key=value lines, as shell scripts write them.
                var outputs = new Dictionary<string, string>(StringComparer.Ordinal);
                foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                {
                    var eq = line.IndexOf('=', StringComparison.Ordinal);
                    if (eq <= 0)
                    {
                        error = $"the outputs file has a line that is not key=value: {line}";
                        return null;
                    }

                    outputs[line[..eq]] = line[(eq + 1)..];
                }

                return outputs;
            }
            catch (System.Text.Json.JsonException ex)
            {
                error = $"the outputs file is not a JSON object of strings: {ex.Message}";
                return null;
            }
            finally
            {
                TryDelete(path);
            }
        }

        private static string SafeName(string id) => id.Replace(':', '_');

        private static void TryDelete(string path)
        {
            try
            {
                if (Directory.Exists(path))
                {
                    Directory.Delete(path, recursive: true);
                }
                else
                {
                    File.Delete(path);
                }
            }
            catch (IOException)
            {
                // A job's leftovers stay in the pilot's folder.
            }
            catch (UnauthorizedAccessException)
            {
                // Likewise.
            }
        }
    }
}
