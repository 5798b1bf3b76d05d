using System.ComponentModel.DataAnnotations;

namespace Shoppe.Workflow;

/// <summary>The workflow service's settings (section <c>Workflow</c>; docs/workflow.md).</summary>
public sealed class WorkflowOptions
{
    public const string SectionName = "Workflow";

    /// <summary><c>sqlite</c> (one machine, the default) or <c>postgres</c> (<c>ConnectionStrings:workflow</c>).</summary>
    public string Store { get; set; } = "sqlite";

    /// <summary>The most jobs one document may hold.</summary>
    [Range(1, 100_000_000)]
    public long MaxJobs { get; set; } = 2_000_000;

    /// <summary>The largest document accepted, in MiB.</summary>
    [Range(1, 64 * 1024)]
    public int MaxDocumentMiB { get; set; } = 1024;

    /// <summary>How long a pilot's lease lasts without an exchange.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan Lease { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>The most no-op jobs handed to a pilot in one exchange (they take no core).</summary>
    [Range(1, 100_000)]
    public int InstantBatch { get; set; } = 2000;

    /// <summary>How often expired leases and collections are looked at.</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:10:00")]
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The delivery service's URL, for <c>delivery</c> works.</summary>
    public Uri? DeliveryUrl { get; set; }

    /// <summary>The transfer service's URL, for <c>transfer</c> works and stage-in.</summary>
    public Uri? TransferUrl { get; set; }

    /// <summary>Folders under which collections may watch for arriving files (the facility's storage, the cache's origin).</summary>
    public List<string> WatchRoots { get; set; } = [];

    /// <summary>The transfer service's storage root as a local folder: a staged collection's folder is under it.</summary>
    public string? TransferStorageRoot { get; set; }

    /// <summary>Local pilots this service starts and keeps running (the one-machine facility); 0: none.</summary>
    [Range(0, 256)]
    public int LocalPilots { get; set; }

    /// <summary>The command that starts a pilot (<c>shoppe pilot</c>: a path to the CLI or its dll), for local and batch pilots.</summary>
    public string? PilotCommand { get; set; }

    /// <summary>The service's URL as pilots elsewhere reach it (Slurm jobs, pods); by default the address it listens on.</summary>
    public Uri? PilotServerUrl { get; set; }

    /// <summary>Pilots as Slurm jobs through slurmrestd, and heavy works' own batch jobs (docs/workflow.md, "Slurm").</summary>
    public SlurmSettings Slurm { get; set; } = new();
}

/// <summary>The site's Slurm, reached through slurmrestd with JWT.</summary>
public sealed class SlurmSettings
{
    /// <summary>slurmrestd's URL (e.g. <c>http://127.0.0.1:6820</c>); unset: no Slurm.</summary>
    public Uri? RestUrl { get; set; }

    /// <summary>The Slurm user pilot jobs are submitted as (<c>X-SLURM-USER-NAME</c>): every job they take runs as this account. Required.</summary>
    public string? User { get; set; }

    /// <summary>The cluster's slurm.conf, for minting tokens with <c>scontrol token</c> (unset: the default one).</summary>
    public string? Conf { get; set; }

    /// <summary>The most pilot jobs queued or running at once.</summary>
    [Range(0, 10_000)]
    public int MaxPilots { get; set; } = 4;

    /// <summary>Cores each pilot job asks for (and keeps busy).</summary>
    [Range(1, 1024)]
    public int PilotCores { get; set; } = 1;

    /// <summary>A pilot job leaves after this long without a job, giving its slot back.</summary>
    [Range(1, 86_400)]
    public int PilotIdleExitSeconds { get; set; } = 60;

    /// <summary>A pilot job's wall-time limit in minutes.</summary>
    [Range(1, 525_600)]
    public int PilotTimeLimitMinutes { get; set; } = 1440;

    /// <summary>Where pilot jobs run and write their Slurm output (on the shared file system).</summary>
    public string? WorkDirectory { get; set; }
}
