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

}
