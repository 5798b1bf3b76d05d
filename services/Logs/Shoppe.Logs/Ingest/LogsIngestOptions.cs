using System.ComponentModel.DataAnnotations;

namespace Shoppe.Logs.Ingest;

/// <summary>Limits of the OTLP receiver, bound from <c>Logs:Ingest</c>.</summary>
public sealed class LogsIngestOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Logs:Ingest";

    /// <summary>The largest export body accepted, after decompression. OTLP exporters batch 512 records by default: a few hundred KiB.</summary>
    [Range(1024, 1L << 30)]
    public long MaxBodyBytes { get; set; } = 16L << 20;
}
