using System.Collections.Concurrent;

namespace Shoppe.Workflow.Pilots;

/// <summary>
/// A kind of job a pilot runs in its own process (<see cref="PilotTask"/>), registered in
/// <see cref="PilotOptions.Tasks"/> under its kind. The delivery service's file tasks are one
/// (Shoppe.Delivery.Tasks): a pilot that serves delivery transforms files without a process per file.
/// </summary>
public interface IPilotTask
{
    /// <summary>Runs one job; <paramref name="context"/> carries the service's client and where to write.</summary>
    /// <param name="job">The job, its <see cref="PilotJob.Task"/> set.</param>
    /// <param name="context">The service that gave the job, an output line sink, the work folder.</param>
    /// <param name="cancellationToken">Cancelled when the lease is lost or the pilot stops.</param>
    /// <returns>How it ended: a failure that may pass on another try says so in <see cref="JobResult.Outputs"/> (<c>retry=true</c>).</returns>
    Task<JobResult> RunAsync(PilotJob job, PilotTaskContext context, CancellationToken cancellationToken);
}

/// <summary>What an in-process task may use: the giving service's authenticated client, the job's log, a folder.</summary>
/// <param name="Service">A client for the service that leased the job, with the pilot's token.</param>
/// <param name="WorkDirectory">The pilot's work folder (a task cleans up what it writes there).</param>
/// <param name="PilotId">The pilot's id, named in uploads so the service can check the lease.</param>
/// <param name="Output">Lines for the job's log (sent with the next exchange, under the job's request id).</param>
/// <param name="Token">The pilot's own token (for the facility's cache: a service's token is never handed to a pilot).</param>
public sealed record PilotTaskContext(HttpClient Service, string WorkDirectory, string PilotId, ConcurrentQueue<JobOutputLine> Output, string Token);

/// <summary>
/// The cores of one pilot, shared by its runners (one per service it serves): a job from any service takes its
/// cores from the same count, and a core freed by one runner's job wakes the others' waiting jobs.
/// </summary>
public sealed class CoreBudget
{
    private int _busy;

    /// <summary>Raised after cores are given back.</summary>
    public event Action? Freed;

    private int _waiting;

    /// <summary>Cores in use.</summary>
    public int Busy => Volatile.Read(ref _busy);

    /// <summary>Multi-core jobs held by any runner until their cores are free: no other runner takes more meanwhile, so they are not starved.</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    /// <summary>Counts a job that starts (1) or stops (-1) waiting for cores.</summary>
    /// <param name="change">1 or -1.</param>
    public void Wait(int change) => Interlocked.Add(ref _waiting, change);

    /// <summary>Takes <paramref name="cores"/>.</summary>
    /// <param name="cores">How many.</param>
    public void Take(int cores) => Interlocked.Add(ref _busy, cores);

    /// <summary>Gives <paramref name="cores"/> back.</summary>
    /// <param name="cores">How many.</param>
    public void Give(int cores)
    {
        Interlocked.Add(ref _busy, -cores);
        Freed?.Invoke();
    }
}
