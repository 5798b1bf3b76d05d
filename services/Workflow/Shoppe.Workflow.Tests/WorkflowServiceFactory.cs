namespace Shoppe.Workflow.Tests;

/// <summary>The real workflow service (its Program, a data folder of its own, the facility's token model).</summary>
public sealed class WorkflowServiceFactory(string dataRoot, IDictionary<string, string?>? settings = null, int? port = null)
    : ShoppeServiceFactory<Program>(dataRoot, new Dictionary<string, string?>(), settings, port: port);
