namespace Shoppe.Workflow.Slurm;

/// <summary>A job as slurmctld knows it (ended jobs stay known for the cluster's MinJobAge).</summary>
public sealed record SlurmJob
{
    /// <summary>The job id.</summary>
    public required long Id { get; init; }

    /// <summary>The job's name.</summary>
    public required string Name { get; init; }

    /// <summary>Its state, as Slurm spells it: see <see cref="SlurmJobStates"/>.</summary>
    public required string State { get; init; }

    /// <summary>Why it is pending or why it failed (Slurm's reason: <c>Resources</c>, <c>NonZeroExitCode</c>, <c>BadConstraints</c>…); <c>None</c> otherwise.</summary>
    public string? StateReason { get; init; }

    /// <summary>The exit code of the batch script (the first number of scontrol's <c>ExitCode=E:S</c>).</summary>
    public int ExitCode { get; init; }

    /// <summary>The signal that ended the batch script, or 0 (the second number of scontrol's <c>ExitCode=E:S</c>).</summary>
    public int Signal { get; init; }

    /// <summary>The generic resources asked per node, e.g. <c>gres:gpu:2</c>, or null.</summary>
    public string? TresPerNode { get; init; }

    /// <summary>CPUs asked for or given.</summary>
    public int? Cpus { get; init; }

    /// <summary>Memory per node in MB, when asked for per node.</summary>
    public long? MemoryPerNodeMb { get; init; }

    /// <summary>The run time limit in minutes; null: none.</summary>
    public int? TimeLimitMinutes { get; init; }

    /// <summary>When it was submitted.</summary>
    public DateTimeOffset? SubmitTime { get; init; }

    /// <summary>When it started (or is expected to).</summary>
    public DateTimeOffset? StartTime { get; init; }

    /// <summary>When it ended (or is expected to).</summary>
    public DateTimeOffset? EndTime { get; init; }

    /// <summary>The user it runs as.</summary>
    public string? UserName { get; init; }

    /// <summary>Its working directory.</summary>
    public string? WorkingDirectory { get; init; }

    /// <summary>Its standard output file.</summary>
    public string? StandardOutput { get; init; }

    /// <summary>Its standard error file.</summary>
    public string? StandardError { get; init; }

    /// <summary>The nodes it runs on.</summary>
    public string? Nodes { get; init; }

    /// <summary>Whether it has ended (see <see cref="SlurmJobStates.IsEnded"/>).</summary>
    public bool IsEnded => SlurmJobStates.IsEnded(State);

    internal static SlurmJob FromWire(SlurmJobWire job)
    {
        // Slurm keeps the script's wait status; scontrol and sacct show it as ExitCode=exit:signal.
        var status = job.ExitCode ?? 0;
        return new SlurmJob
        {
            Id = job.JobId,
            Name = job.Name ?? "",
            State = job.JobState ?? "",
            StateReason = job.StateReason,
            ExitCode = (status >> 8) & 0xff,
            Signal = status & 0x7f,
            TresPerNode = string.IsNullOrEmpty(job.TresPerNode) ? null : job.TresPerNode,
            Cpus = job.Cpus,
            MemoryPerNodeMb = job.MemoryPerNode,
            TimeLimitMinutes = job.TimeLimit,
            SubmitTime = Time(job.SubmitTime),
            StartTime = Time(job.StartTime),
            EndTime = Time(job.EndTime),
            UserName = job.UserName,
            WorkingDirectory = job.CurrentWorkingDirectory,
            StandardOutput = job.StandardOutput,
            StandardError = job.StandardError,
            Nodes = job.Nodes,
        };
    }

    private static DateTimeOffset? Time(long? unixSeconds) => unixSeconds is > 0 ? DateTimeOffset.FromUnixTimeSeconds(unixSeconds.Value) : null;
}

/// <summary>Slurm's job states, as slurmrestd writes them.</summary>
public static class SlurmJobStates
{
    /// <summary>Waiting for resources, its dependencies, or its priority.</summary>
    public const string Pending = "PENDING";

    /// <summary>Running.</summary>
    public const string Running = "RUNNING";

    /// <summary>Ended or cancelled, its processes still being cleaned up on its node: not ended yet.</summary>
    public const string Completing = "COMPLETING";

    /// <summary>Suspended.</summary>
    public const string Suspended = "SUSPENDED";

    /// <summary>Ended with exit code 0.</summary>
    public const string Completed = "COMPLETED";

    /// <summary>Cancelled by a user or an administrator.</summary>
    public const string Cancelled = "CANCELLED";

    /// <summary>Ended with a non-zero exit code or a signal, or could never run.</summary>
    public const string Failed = "FAILED";

    /// <summary>Ran past its time limit.</summary>
    public const string Timeout = "TIMEOUT";

    /// <summary>Its node failed.</summary>
    public const string NodeFail = "NODE_FAIL";

    /// <summary>Preempted by another job.</summary>
    public const string Preempted = "PREEMPTED";

    /// <summary>Its node could not boot.</summary>
    public const string BootFail = "BOOT_FAIL";

    /// <summary>Ended at its deadline.</summary>
    public const string Deadline = "DEADLINE";

    /// <summary>Ran out of memory.</summary>
    public const string OutOfMemory = "OUT_OF_MEMORY";

    /// <summary>Whether a job in <paramref name="state"/> has ended and will not run again by itself.</summary>
    public static bool IsEnded(string state) => state is Completed or Cancelled or Failed or Timeout or NodeFail or Preempted or BootFail or Deadline or OutOfMemory;
}
