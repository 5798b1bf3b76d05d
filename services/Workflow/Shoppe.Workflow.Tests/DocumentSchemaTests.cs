using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using Shoppe.Workflow.Documents;

namespace Shoppe.Workflow.Tests;

/// <summary>docs/schemas/workflow.schema.json names exactly the members the service reads: neither drifts alone.</summary>
public sealed class DocumentSchemaTests
{
    private static readonly JsonNode Schema = JsonNode.Parse(File.ReadAllText(Path.Combine(Repository.Root, "docs", "schemas", "workflow.schema.json")))!;

    public static TheoryData<string, Type> Definitions => new()
    {
        { "#", typeof(WorkflowHead) },
        { "collection", typeof(CollectionSpec) },
        { "work", typeof(WorkSpec) },
        { "condition", typeof(ConditionSpec) },
        { "job", typeof(JobSpec) },
    };

    [Theory]
    [MemberData(nameof(Definitions))]
    public void Schema_NamesTheModelsMembers(string definition, Type model)
    {
        var node = definition == "#" ? Schema : Schema["$defs"]![definition]!;
        var inSchema = node["properties"]!.AsObject().Select(p => p.Key).Where(k => !(definition == "#" && k == "jobs")).Order(StringComparer.Ordinal);
        var inModel = model.GetProperties(BindingFlags.Public | BindingFlags.Instance).Select(p => JsonNamingPolicy.CamelCase.ConvertName(p.Name)).Order(StringComparer.Ordinal);
        Assert.Equal(inModel, inSchema);
        Assert.False(node["additionalProperties"]!.GetValue<bool>());
    }
}
