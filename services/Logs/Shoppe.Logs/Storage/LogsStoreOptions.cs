using System.ComponentModel.DataAnnotations;

namespace Shoppe.Logs.Storage;

/// <summary>The logs store, bound from <c>Logs:Store</c>.</summary>
public sealed class LogsStoreOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Logs:Store";

    /// <summary><c>sqlite</c> (the embedded default) or <c>elasticsearch</c>.</summary>
    [Required, RegularExpression("^(sqlite|elasticsearch)$")]
    public string Kind { get; set; } = "sqlite";

    /// <summary>The SQLite file; default <c>logs.db</c> in the service's data folder.</summary>
    public string? SqlitePath { get; set; }

    /// <summary>Records older than this are deleted.</summary>
    [Range(typeof(TimeSpan), "00:01:00", "3650.00:00:00")]
    public TimeSpan MaxAge { get; set; } = TimeSpan.FromDays(14);

    /// <summary>When the store holds more than this many bytes, the oldest records go first.</summary>
    [Range(1L << 20, long.MaxValue)]
    public long MaxBytes { get; set; } = 8L << 30;

    /// <summary>How often retention runs.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan RetentionInterval { get; set; } = TimeSpan.FromMinutes(5);
}
