namespace Shoppe.Testing;

/// <summary>The repository the tests run from, and the tools installed for them (eng/install-test-deps.sh).</summary>
public static class Repository
{
    private static readonly Lazy<string> RootFolder = new(() =>
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Shoppe.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("The repository root (Shoppe.sln) is not above the test's folder.");
    });

    /// <summary>The folder holding Shoppe.sln, above the test's output folder.</summary>
    public static string Root => RootFolder.Value;

    /// <summary>The LD_PRELOAD shim that keeps XRootD on loopback (eng/peers/bindlo.c, built by eng/install-test-deps.sh).</summary>
    public static string LoopbackShim
    {
        get
        {
            var shim = Path.Combine(Root, "eng", "peers", "bin", "bindlo.so");
            return File.Exists(shim) ? shim : throw new InvalidOperationException($"{shim} is missing: eng/install-test-deps.sh builds it.");
        }
    }

    /// <summary>The full path of an installed program.</summary>
    public static string Tool(string name)
    {
        foreach (var dir in new[] { "/usr/sbin", "/usr/bin", "/usr/local/bin" })
        {
            if (File.Exists(Path.Combine(dir, name)))
            {
                return Path.Combine(dir, name);
            }
        }

        throw new InvalidOperationException($"{name} is not installed: eng/install-test-deps.sh installs the test peers.");
    }
}
