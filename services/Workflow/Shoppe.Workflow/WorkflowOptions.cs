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

    /// <summary>Local pilots this service starts and keeps running (the one-machine facility); 0: none.</summary>
    [Range(0, 256)]
    public int LocalPilots { get; set; }

    /// <summary>The command that starts a pilot (<c>shoppe pilot</c>: a path to the CLI or its dll), for local and batch pilots.</summary>
    public string? PilotCommand { get; set; }
}
