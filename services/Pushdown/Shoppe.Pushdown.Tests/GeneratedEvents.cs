using Shoppe.Columnar.Generation;

namespace Shoppe.Pushdown.Tests;

/// <summary>
/// NanoAOD-shaped events generated from the real samples, once per test class: 60,000 events in one file of row
/// groups of 3,000 (20 row groups), event numbers 1 to 60,000 in order, so that event ranges prune.
/// </summary>
public sealed class GeneratedEvents : IDisposable
{
    public const int Events = 60_000;

    public const int RowGroupEvents = 3_000;

    public GeneratedEvents()
    {
        Root = Directory.CreateTempSubdirectory("shoppe-pushdown-generated-").FullName;
        NanoAodGenerator.Write([Samples.DrellYan, Samples.Dimuon], Path.Combine(Root, "generated"), Events, 1, RowGroupEvents, 2026);
        File = Directory.GetFiles(Path.Combine(Root, "generated")).Single();
    }

    /// <summary>A storage root holding <c>generated/nano_0000.parquet</c>.</summary>
    public string Root { get; }

    public string File { get; }

    public void Dispose() => Directory.Delete(Root, recursive: true);
}
