namespace Shoppe.Transfer;

/// <summary>The transfer service's settings, bound from <c>Transfer</c> (docs/transfer.md).</summary>
public sealed class TransferOptions
{
    public const string SectionName = "Transfer";

    /// <summary>The storage root the WebDAV endpoint serves. Default: <c>&lt;data root&gt;/storage</c>.</summary>
    public string? Root { get; set; }

    /// <summary>How often a third-party copy sends a performance marker (XRootD: 5 s); the first goes at once.</summary>
    public TimeSpan MarkerInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a remote may send nothing before a third-party copy fails.</summary>
    public TimeSpan RemoteTimeout { get; set; } = TimeSpan.FromSeconds(60);
}
