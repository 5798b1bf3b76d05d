using System.Reflection;

namespace Shoppe.ServiceDefaults.Versioning;

/// <summary>
/// What a service says of itself at <c>GET /version</c>: its name, its own version, the stack
/// release it belongs to and the commit it was built from.
/// </summary>
/// <param name="Service">The short service name (<c>cache</c>, <c>delivery</c>, ...).</param>
/// <param name="Version">The component's own version.</param>
/// <param name="StackVersion">The Coffea Shoppe stack version (the repository's VERSION file).</param>
/// <param name="Commit">The source commit, where the build knew it.</param>
/// <param name="Framework">The .NET runtime the service runs on.</param>
public sealed record ShoppeServiceInfo(string Service, string Version, string StackVersion, string? Commit, string Framework)
{
    /// <summary>Reads the version facts stamped into <paramref name="assembly"/> at build time.</summary>
    public static ShoppeServiceInfo FromAssembly(string service, Assembly assembly)
    {
        ArgumentNullException.ThrowIfNull(assembly);
        var informational = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
            ?? assembly.GetName().Version?.ToString()
            ?? "0.0.0";
        // The SDK appends "+<commit>" to the informational version when it knows the source revision.
        var plus = informational.IndexOf('+', StringComparison.Ordinal);
        var version = plus < 0 ? informational : informational[..plus];
        var commit = plus < 0 ? null : informational[(plus + 1)..];
        var stack = assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == "ShoppeStackVersion")?.Value ?? version;
        return new ShoppeServiceInfo(service, version, stack, commit, System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription);
    }

    /// <summary>
    /// The short service name for an application name: <c>Shoppe.Cache</c> becomes <c>cache</c>.
    /// </summary>
    public static string ServiceNameFor(string applicationName)
    {
        ArgumentNullException.ThrowIfNull(applicationName);
        const string prefix = "Shoppe.";
        var name = applicationName.StartsWith(prefix, StringComparison.Ordinal) ? applicationName[prefix.Length..] : applicationName;
        return name.ToLowerInvariant();
    }
}
