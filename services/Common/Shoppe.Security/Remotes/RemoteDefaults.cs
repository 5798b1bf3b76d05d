namespace Shoppe.Security.Remotes;

/// <summary>Which addresses a <see cref="RemotePolicy"/> refuses unless one of its ranges names them.</summary>
public enum RemoteDefaults
{
    /// <summary>
    /// Link-local addresses only (<c>169.254.0.0/16</c>, <c>fe80::/10</c>: cloud metadata services): a service
    /// whose remotes are storage endpoints anywhere, private networks included (the transfer service).
    /// </summary>
    AnyButLinkLocal,

    /// <summary>
    /// Every address that is not on the public internet: loopback, private and shared (carrier NAT) ranges,
    /// link-local, unique-local, unspecified, multicast and reserved addresses, and IPv6 forms that carry such an
    /// IPv4 address (IPv4-compatible, NAT64, 6to4). For a service whose own storage is reached another way, so
    /// that a user's URL can never reach the facility's inside (the delivery service).
    /// </summary>
    PublicOnly,
}
