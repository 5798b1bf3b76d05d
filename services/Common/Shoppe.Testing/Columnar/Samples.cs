
namespace Shoppe.Testing;

/// <summary>The real CMS NanoAOD sample files (conformance/data/nanoaod), copied beside the tests.</summary>
public static class Samples
{
    public static string Folder => Path.Combine(AppContext.BaseDirectory, "data");

    /// <summary>Simulated Drell-Yan, 40 events.</summary>
    public static string DrellYan => Path.Combine(Folder, "nano_dy.parquet");

    /// <summary>2018 collision data, 40 events.</summary>
    public static string Dimuon => Path.Combine(Folder, "nano_dimuon.parquet");

    public static TheoryData<string> Files => new(DrellYan, Dimuon);
}
