using System.Net;
using System.Net.Sockets;

namespace Shoppe.Security.Remotes;

/// <summary>
/// Which remote endpoints a service may connect to on a user's behalf (a copy's source or destination, a
/// dataset's file). Any user may name any URL, so without a policy the service could be made to reach whatever it
/// can reach (server-side request forgery): a site lists what it allows in the service's <c>AllowedRemotes</c>
/// (<see cref="RemotePolicyExtensions.AddRemotePolicy"/>) — host names (<c>se1.example.org</c>,
/// <c>*.example.org</c>) and address ranges (<c>192.0.2.0/24</c>, <c>2001:db8::/32</c>, <c>127.0.0.1</c>). With no
/// list, every remote is allowed but the addresses <see cref="Defaults"/> guards; with a list, only what it names.
/// Guarded addresses are allowed only when a range names them: a listed name is not enough, since DNS may point it
/// anywhere. The check is made on the address actually connected to, after DNS and on every redirect, so a name
/// that resolves somewhere unexpected is refused too.
/// </summary>
public sealed class RemotePolicy
{
    // Where cloud metadata services answer (169.254.169.254).
    private static readonly (IPAddress Network, int Prefix)[] LinkLocal = Ranges("169.254.0.0/16", "fe80::/10");

    // Everything that is not the public internet: this host, this network, private and shared (carrier NAT)
    // space, link-local, IETF and benchmarking blocks, multicast and reserved space (RFC 6890's special-purpose
    // registries, less the documentation blocks, which are not routed anyway).
    private static readonly (IPAddress Network, int Prefix)[] NonPublic = Ranges(
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
        "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4",
        "::/128", "::1/128", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8");

    private readonly List<string> _names = [];
    private readonly List<(IPAddress Network, int Prefix)> _ranges = [];
    private readonly (IPAddress Network, int Prefix)[] _guarded;

    /// <summary>Parses the rules; <paramref name="errors"/> lists what could not be read.</summary>
    /// <param name="rules">Host names, <c>*.</c> wildcards, addresses and CIDR ranges.</param>
    /// <param name="defaults">Which addresses are refused unless a range names them.</param>
    /// <param name="setting">The configuration key the rules came from, named in refusals (<c>Transfer:AllowedRemotes</c>).</param>
    /// <param name="errors">One line per rule that is neither a host name nor an address range.</param>
    public RemotePolicy(IEnumerable<string> rules, RemoteDefaults defaults, string setting, out List<string> errors)
    {
        ArgumentNullException.ThrowIfNull(rules);
        ArgumentException.ThrowIfNullOrWhiteSpace(setting);
        Defaults = defaults;
        Setting = setting;
        _guarded = defaults == RemoteDefaults.PublicOnly ? NonPublic : LinkLocal;
        errors = [];
        foreach (var raw in rules)
        {
            var rule = raw.Trim();
            if (rule.Length == 0)
            {
                continue;
            }

            if (TryParseRange(rule, out var range))
            {
                _ranges.Add(range);
            }
            else if (Uri.CheckHostName(rule.StartsWith("*.", StringComparison.Ordinal) ? rule[2..] : rule) == UriHostNameType.Dns)
            {
                _names.Add(rule.ToLowerInvariant());
            }
            else
            {
                errors.Add($"'{rule}' is neither a host name (a.b, *.b) nor an address or range (192.0.2.1, 192.0.2.0/24, 2001:db8::/32)");
            }
        }
    }

    /// <summary>Which addresses are refused unless a range names them.</summary>
    public RemoteDefaults Defaults { get; }

    /// <summary>The configuration key of the rules, as refusals name it.</summary>
    public string Setting { get; }

    /// <summary>Whether any rule was given (else everything but the guarded addresses is allowed).</summary>
    public bool IsRestricted => _names.Count > 0 || _ranges.Count > 0;

    /// <summary>Whether the host name itself is listed (a name rule); addresses are judged by <see cref="Allows(string, IPAddress)"/>.</summary>
    private bool NameAllowed(string host)
    {
        host = host.ToLowerInvariant();
        return _names.Any(n => n.StartsWith("*.", StringComparison.Ordinal)
            ? host.EndsWith(n[1..], StringComparison.Ordinal) && host.Length > n.Length - 1
            : host == n);
    }

    /// <summary>Whether connecting to <paramref name="address"/> for the URL host <paramref name="host"/> is allowed.</summary>
    public bool Allows(string host, IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(address);
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (_ranges.Any(r => InRange(address, r)))
        {
            return true;
        }

        // A listed name still may not be pointed at a guarded address.
        return !IsGuarded(address) && (!IsRestricted || NameAllowed(host));
    }

    private bool IsGuarded(IPAddress address) =>
        _guarded.Any(r => InRange(address, r)) || (EmbeddedIPv4(address) is { } v4 && _guarded.Any(r => InRange(v4, r)));

    /// <summary>
    /// The IPv4 address an IPv6 one carries where a translator or tunnel may deliver it to that IPv4 address:
    /// IPv4-compatible (<c>::a.b.c.d</c>), NAT64 (<c>64:ff9b::/96</c>) and 6to4 (<c>2002::/16</c>).
    /// </summary>
    private static IPAddress? EmbeddedIPv4(IPAddress address)
    {
        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return null;
        }

        var b = address.GetAddressBytes();
        if (b is [0x20, 0x02, ..])
        {
            return new IPAddress(b.AsSpan(2, 4));
        }

        var nat64 = b is [0x00, 0x64, 0xff, 0x9b, ..] && b.AsSpan(4, 8).IndexOfAnyExcept((byte)0) < 0;
        var compatible = b.AsSpan(0, 12).IndexOfAnyExcept((byte)0) < 0;
        return nat64 || compatible ? new IPAddress(b.AsSpan(12, 4)) : null;
    }

    /// <summary>
    /// A refusal to show the user before any connection is made, or null: for URLs whose host is an address, and
    /// for names when the rules name hosts only.
    /// </summary>
    public string? Check(Uri remote)
    {
        ArgumentNullException.ThrowIfNull(remote);
        var host = remote.IdnHost;
        if (IPAddress.TryParse(host, out var address))
        {
            return Allows(host, address) ? null : Refusal(remote.Host);
        }

        return IsRestricted && !NameAllowed(host) && _ranges.Count == 0 ? Refusal(remote.Host) : null;
    }

    /// <summary>The words of a refusal.</summary>
    public string Refusal(string host) => $"The remote {host} is not one this service may connect to ({Setting})";

    private static (IPAddress Network, int Prefix)[] Ranges(params string[] rules) =>
        [.. rules.Select(r => TryParseRange(r, out var range) ? range : throw new ArgumentException($"Not a range: {r}", nameof(rules)))];

    private static bool TryParseRange(string rule, out (IPAddress Network, int Prefix) range)
    {
        range = default;
        var slash = rule.IndexOf('/', StringComparison.Ordinal);
        var addressText = slash < 0 ? rule : rule[..slash];
        if (!IPAddress.TryParse(addressText, out var address) || addressText.Contains('%', StringComparison.Ordinal))
        {
            return false;
        }

        var bits = address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
        var prefix = bits;
        if (slash >= 0 && (!int.TryParse(rule[(slash + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out prefix) || prefix > bits))
        {
            return false;
        }

        range = (address, prefix);
        return true;
    }

    private static bool InRange(IPAddress address, (IPAddress Network, int Prefix) range)
    {
        if (address.AddressFamily != range.Network.AddressFamily)
        {
            return false;
        }

        var a = address.GetAddressBytes();
        var n = range.Network.GetAddressBytes();
        var whole = range.Prefix / 8;
        if (!a.AsSpan(0, whole).SequenceEqual(n.AsSpan(0, whole)))
        {
            return false;
        }

        var rest = range.Prefix % 8;
        if (rest == 0)
        {
            return true;
        }

        var mask = (byte)(0xFF << (8 - rest));
        return (a[whole] & mask) == (n[whole] & mask);
    }

    /// <summary>
    /// An HTTP handler whose every connection (redirects included) goes only to allowed addresses: the names are
    /// resolved here and each address judged before the connection is made.
    /// </summary>
    public SocketsHttpHandler Handler(TimeSpan connectTimeout) => new()
    {
        ConnectTimeout = connectTimeout,
        AutomaticDecompression = DecompressionMethods.None,
        UseCookies = false,
        ConnectCallback = ConnectAsync,
    };

    /// <summary>Connects to the first allowed address of the endpoint, or fails with the refusal.</summary>
    public async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var socket = await ConnectSocketAsync(context.DnsEndPoint.Host, context.DnsEndPoint.Port, cancellationToken);
        return new NetworkStream(socket, ownsSocket: true);
    }

    /// <summary>A connected TCP socket to an allowed address of <paramref name="host"/>.</summary>
    /// <exception cref="RemoteNotAllowedException">No address of the host is allowed.</exception>
    /// <exception cref="SocketException">None of the allowed addresses answered.</exception>
    public async Task<Socket> ConnectSocketAsync(string host, int port, CancellationToken cancellationToken)
    {
        var addresses = IPAddress.TryParse(host, out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, cancellationToken);
        var allowed = addresses.Where(a => Allows(host, a)).ToArray();
        if (allowed.Length == 0)
        {
            throw new RemoteNotAllowedException(Refusal(host));
        }

        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(allowed, port, cancellationToken);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
