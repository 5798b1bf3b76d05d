namespace Shoppe.Security.Remotes;

/// <summary>A service's allow-list, bound from <c>&lt;its section&gt;:AllowedRemotes</c> (<see cref="RemotePolicyExtensions.AddRemotePolicy"/>).</summary>
public sealed class RemotePolicyOptions
{
    /// <summary>
    /// Host names (<c>se1.example.org</c>, <c>*.example.org</c>) and address ranges (<c>192.0.2.0/24</c>,
    /// <c>127.0.0.1</c>) the service may connect to for its users. Empty: any remote but the guarded addresses.
    /// </summary>
    public IList<string> AllowedRemotes { get; } = [];
}
