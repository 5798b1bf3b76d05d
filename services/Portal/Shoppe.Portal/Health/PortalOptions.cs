using System.ComponentModel.DataAnnotations;

namespace Shoppe.Portal.Health;

/// <summary>What the portal shows, bound from the <c>Portal</c> configuration section.</summary>
public sealed class PortalOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Portal";

    /// <summary>
    /// The services the portal watches, by their service-discovery names; each is reached at
    /// <c>http://&lt;name&gt;</c> (configuration <c>services:&lt;name&gt;:http:0</c>, set by the AppHost).
    /// </summary>
    [Required, MinLength(1)]
    public List<string> Services { get; set; } = [];

    /// <summary>How long one service may take to answer before the portal calls it unreachable.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:01:00")]
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often the services are probed at most, whoever reads the page (readers in between see the last probe).</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:01:00")]
    public TimeSpan ProbeEvery { get; set; } = TimeSpan.FromSeconds(2);
}
