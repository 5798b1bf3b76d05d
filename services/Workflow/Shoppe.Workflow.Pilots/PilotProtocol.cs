using System.Text.Json;
using System.Text.Json.Serialization;

namespace Shoppe.Workflow.Pilots;

/// <summary>
/// One exchange between a pilot and the workflow service (<c>POST /v1/pilots/exchange</c>): the pilot reports what
/// finished since its last call and which jobs it is still running (their leases are extended), and asks for up to
/// <see cref="Want"/> more. A pilot that only heartbeats sends <c>Want = 0</c>.
/// </summary>
/// <param name="Pilot">The pilot's id (stable for its life: <c>host-pid-random</c>).</param>
/// <param name="Want">How many more process jobs it can start now: its free cores.</param>
/// <param name="Running">The leases of the jobs it is running.</param>
/// <param name="Results">Jobs that ended since the last exchange.</param>
/// <param name="Output">Lines the running and ended jobs wrote since the last exchange, for the logs.</param>
/// <param name="Only">Take only this job (a batch job's pilot, started for one heavy job).</param>
/// <param name="WaitSeconds">How long the service may hold the call while it has no job to give (0: answer at once).</param>
/// <param name="Released">Jobs given back without a result (the pilot is stopping): they are leased again at once.</param>
/// <param name="WantInstant">How many no-op jobs it takes now (they need no core: a pilot takes a batch).</param>
/// <param name="Tasks">The in-process task kinds this pilot runs (<see cref="PilotTask.Kind"/>); a service gives it no others.</param>
public sealed record PilotExchange(
    string Pilot,
    int Want,
    IReadOnlyList<JobLease> Running,
    IReadOnlyList<JobResult> Results,
    IReadOnlyList<JobOutputLine>? Output = null,
    string? Only = null,
    double WaitSeconds = 0,
    IReadOnlyList<JobLease>? Released = null,
    int WantInstant = 0,
    IReadOnlyList<string>? Tasks = null);

/// <summary>The service's answer: jobs to start, and leases the pilot no longer holds (abort, expiry): stop those.</summary>
/// <param name="Jobs">New jobs, leased to this pilot until <see cref="LeaseSeconds"/> from now.</param>
/// <param name="Stop">Running jobs to kill: aborted, or leased to another pilot after this one went silent.</param>
/// <param name="LeaseSeconds">How long a lease lasts without an exchange; a pilot calls again well within it.</param>
/// <param name="Rejected">Results refused because their lease had passed to another pilot (the job runs again there).</param>
/// <param name="Prefetch">
/// Jobs per core a pilot may hold ahead of its free cores (the delivery service's short file tasks: the next file
/// starts the moment one ends, without waiting for an exchange); 0 for long jobs, which another pilot should take.
/// </param>
public sealed record PilotAssignment(
    IReadOnlyList<PilotJob> Jobs,
    IReadOnlyList<JobLease> Stop,
    double LeaseSeconds,
    IReadOnlyList<JobLease> Rejected,
    int Prefetch = 0);

/// <summary>A job's lease: its request id and which attempt this pilot holds.</summary>
public sealed record JobLease(string Id, int Attempt);

/// <summary>
/// A job to run. <see cref="Argv"/> is final: the service has already put parameters, files and earlier works'
/// outputs in place. A job with a <see cref="Task"/> runs inside the pilot (a delivery's file: no process to start
/// per file); one with neither is a no-op (the <c>noop</c> action): it succeeds at once, without a process or a core.
/// </summary>
public sealed record PilotJob(
    string Id,
    int Attempt,
    IReadOnlyList<string> Argv,
    IReadOnlyDictionary<string, string>? Environment,
    string? WorkingDirectory,
    double? TimeoutSeconds,
    int Cores = 1,
    PilotTask? Task = null);

/// <summary>A job the pilot runs in its own process, by a handler registered for <see cref="Kind"/> (<see cref="IPilotTask"/>).</summary>
/// <param name="Kind">Which handler: <c>delivery.file</c>.</param>
/// <param name="Spec">What the handler needs, in the handler's own JSON.</param>
public sealed record PilotTask(string Kind, JsonElement Spec);

/// <summary>How a job ended on the pilot.</summary>
/// <param name="Id">The job's request id.</param>
/// <param name="Attempt">The attempt its lease named.</param>
/// <param name="Succeeded">Exit code 0 (and no timeout or start failure).</param>
/// <param name="ExitCode">The process's exit code, when it ran.</param>
/// <param name="Error">Why it failed (start failure, timeout, signal), short.</param>
/// <param name="Outputs">What the job wrote to <c>$SHOPPE_OUTPUTS</c> (a JSON object of strings), for later works.</param>
/// <param name="Seconds">How long it ran.</param>
public sealed record JobResult(
    string Id,
    int Attempt,
    bool Succeeded,
    int? ExitCode,
    string? Error,
    IReadOnlyDictionary<string, string>? Outputs,
    double Seconds);

/// <summary>One line a job wrote on stdout or stderr.</summary>
public sealed record JobOutputLine(string Id, bool Error, string Text);

/// <summary>
/// <c>GET /v1/pilots/demand</c>: the jobs pilots run (commands and instant jobs, every user's), ready and running,
/// each counted up to 10,000. <see cref="PilotJobs"/>, their sum, is what a site's autoscaler sizes its pilots by: the
/// running ones keep their pilots, so a scale-down does not stop jobs while others still wait.
/// </summary>
public sealed record PilotDemand(long ReadyJobs, long RunningJobs)
{
    /// <summary>Ready and running together.</summary>
    public long PilotJobs => ReadyJobs + RunningJobs;
}

/// <summary>The pilot protocol's JSON: camelCase, source-generated.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(PilotExchange))]
[JsonSerializable(typeof(PilotAssignment))]
[JsonSerializable(typeof(PilotDemand))]
[JsonSerializable(typeof(Dictionary<string, string>))]
public sealed partial class PilotJsonContext : JsonSerializerContext;
