namespace Shoppe.Workflow.State;

/// <summary>A job's state, stored as a small integer (a million rows: every byte counts). Terminal from <see cref="Succeeded"/> on.</summary>
public static class JobStates
{
    public const int Waiting = 0;
    public const int Ready = 1;
    public const int Held = 2;
    public const int Leased = 3;
    public const int Succeeded = 4;
    public const int Failed = 5;
    public const int Skipped = 6;
    public const int Aborted = 7;

    public static readonly string[] Names = ["waiting", "ready", "held", "running", "succeeded", "failed", "skipped", "aborted"];
}

/// <summary>Who runs a job: a pilot's process, a pilot at once (no-op), the service itself, or a batch job of its own.</summary>
public static class Runners
{
    public const int Process = 0;
    public const int Instant = 1;
    public const int Service = 2;
    public const int Batch = 3;
}

/// <summary>States of works and workflows.</summary>
public static class WorkStates
{
    public const string Pending = "pending";
    public const string Active = "active";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
    public const string Skipped = "skipped";
    public const string Aborted = "aborted";

    public static bool IsFinished(string state) => state is Succeeded or Failed or Skipped or Aborted;
}

public static class WorkflowStates
{
    /// <summary>Created with <c>parts: true</c>; its jobs are still arriving.</summary>
    public const string Building = "building";
    public const string Running = "running";
    public const string Suspended = "suspended";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
    public const string Aborted = "aborted";

    public static bool IsFinished(string state) => state is Succeeded or Failed or Aborted;
}

/// <summary>A collection file's state; processed and failed are read from its job's state.</summary>
public static class FileStates
{
    /// <summary>There, and not yet in a job.</summary>
    public const int Arrived = 0;

    /// <summary>In a job.</summary>
    public const int Assigned = 1;

    /// <summary>Being copied in by the transfer service.</summary>
    public const int Staging = 2;

    /// <summary>Its stage-in copy failed: it never arrives, and counts as failed.</summary>
    public const int StageFailed = 3;
}
