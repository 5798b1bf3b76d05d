using Apache.Arrow;
using Apache.Arrow.Types;

namespace Shoppe.Pushdown.Scans;

/// <summary>Arrow types and schemas as text (<c>large_list&lt;float&gt;</c>), for errors, plans, and comparing schemas type by type.</summary>
internal static class SchemaText
{
    public static string Describe(IArrowType type) => type is NestedType nested
        ? $"{type.Name}<{string.Join(",", nested.Fields.Select(f => Describe(f.DataType)))}>"
        : type.Name;

    public static string Describe(Schema schema) => string.Join(", ", schema.FieldsList.Select(f => $"{f.Name}: {Describe(f.DataType)}"));

    /// <summary>The same column names, in the same order, of the same types (nested types whole).</summary>
    public static bool SameFields(Schema a, Schema b) =>
        a.FieldsList.Count == b.FieldsList.Count && a.FieldsList.Zip(b.FieldsList).All(p => p.First.Name == p.Second.Name && Describe(p.First.DataType) == Describe(p.Second.DataType));
}
