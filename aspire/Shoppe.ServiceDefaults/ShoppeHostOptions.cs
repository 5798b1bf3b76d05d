using System.ComponentModel.DataAnnotations;

namespace Shoppe.ServiceDefaults;

/// <summary>
/// Host settings every service shares, bound from the <c>Shoppe</c> configuration section.
/// </summary>
public sealed class ShoppeHostOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Shoppe";

    /// <summary>
    /// The folder where this service keeps its state (embedded stores, cached blocks). The AppHost gives
    /// each service its own folder under one data root; on its own a service uses
    /// <c>~/.local/share/coffea-shoppe/&lt;service&gt;</c>.
    /// </summary>
    [Required]
    public string DataRoot { get; set; } = "";

    /// <summary>
    /// How often the summarized access lines of high-rate endpoints are written (<see cref="RequestIds.SummarizedAccessLog"/>):
    /// one line per request id and user, counting that endpoint's requests since the last.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "01:00:00")]
    public TimeSpan AccessSummaryInterval { get; set; } = TimeSpan.FromSeconds(5);
}
