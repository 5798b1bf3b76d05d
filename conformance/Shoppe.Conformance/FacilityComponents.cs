namespace Shoppe.Conformance;

/// <summary>One component of the stack: a service (with its port in the one-machine facility) or the CLI.</summary>
/// <param name="Name">Its name, as services call themselves at <c>/version</c>.</param>
/// <param name="Project">The project, relative to the repository root.</param>
/// <param name="Assembly">The assembly (and executable) name.</param>
/// <param name="Port">Its port in the one-machine facility (0 for the CLI).</param>
public sealed record FacilityComponent(string Name, string Project, string Assembly, int Port)
{
    /// <summary>Whether this component is a service that answers HTTP.</summary>
    public bool IsService => Port != 0;
}

/// <summary>The components of Coffea Shoppe, in start order (the logs service first: the others export to it).</summary>
public static class FacilityComponents
{
    public static readonly IReadOnlyList<FacilityComponent> All =
    [
        new("logs", "services/Logs/Shoppe.Logs/Shoppe.Logs.csproj", "Shoppe.Logs", 5106),
        new("cache", "services/Cache/Shoppe.Cache/Shoppe.Cache.csproj", "Shoppe.Cache", 5102),
        new("transfer", "services/Transfer/Shoppe.Transfer/Shoppe.Transfer.csproj", "Shoppe.Transfer", 5103),
        new("pushdown", "services/Pushdown/Shoppe.Pushdown/Shoppe.Pushdown.csproj", "Shoppe.Pushdown", 5105),
        new("delivery", "services/Delivery/Shoppe.Delivery/Shoppe.Delivery.csproj", "Shoppe.Delivery", 5101),
        new("workflow", "services/Workflow/Shoppe.Workflow/Shoppe.Workflow.csproj", "Shoppe.Workflow", 5104),
        new("portal", "services/Portal/Shoppe.Portal/Shoppe.Portal.csproj", "Shoppe.Portal", 5100),
        new("cli", "stack/Shoppe.Cli/Shoppe.Cli.csproj", "shoppe", 0),
    ];

    /// <summary>The services alone.</summary>
    public static IEnumerable<FacilityComponent> Services => All.Where(c => c.IsService);
}
