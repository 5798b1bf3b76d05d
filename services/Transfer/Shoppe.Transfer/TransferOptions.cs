namespace Shoppe.Transfer;

/// <summary>The transfer service's settings, bound from <c>Transfer</c> (docs/transfer.md).</summary>
public sealed class TransferOptions
{
    public const string SectionName = "Transfer";

    /// <summary>The storage root the WebDAV endpoint serves. Default: <c>&lt;data root&gt;/storage</c>.</summary>
    public string? Root { get; set; }

    /// <summary>How often a third-party copy sends a performance marker (XRootD: 5 s); the first goes at once.</summary>
    public TimeSpan MarkerInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Sync every written file to disk before answering (PUT's 201, a pull's <c>success:</c>). Off by default, as in
    /// XRootD and dCache: the file is complete and renamed, and the kernel writes it back; on, every file costs an
    /// fsync (docs/performance.md, "Transfer": most of the small-file rate).
    /// </summary>
    public bool SyncOnClose { get; set; }

    /// <summary>How long a remote may send nothing before a third-party copy fails.</summary>
    public TimeSpan RemoteTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Queued copies run at once between one source and one destination endpoint.</summary>
    public int MaxPerEndpointPair { get; set; } = 2;

    /// <summary>Tries per queued copy (only failures that may pass are retried).</summary>
    public int MaxAttempts { get; set; } = 3;

    /// <summary>Wait before a queued copy's retry (doubled each time).</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromSeconds(5);

    // AllowedRemotes, the remotes copies may reach, is bound from this section by the shared remote policy
    // (Shoppe.Security.Remotes; Extensions/TransferServiceExtensions.cs).
}
