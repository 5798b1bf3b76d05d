using System.Net;
using System.Net.Sockets;

namespace Shoppe.Transfer.Remotes;

/// <summary>
/// Which remote endpoints the service may connect to on a user's behalf (a copy's source or destination, a queued
/// copy's endpoints). Any user may name any URL, so without a policy the service could be made to reach
/// whatever it can reach (server-side request forgery): a site lists its storage in
/// <see cref="TransferOptions.AllowedRemotes"/> — host names (<c>se1.example.org</c>, <c>*.example.org</c>) and
/// address ranges (<c>192.0.2.0/24</c>, <c>2001:db8::/32</c>, <c>127.0.0.1</c>). With no list, every remote is
/// allowed but link-local addresses (<c>169.254.0.0/16</c>, <c>fe80::/10</c>: cloud metadata services) never are
/// unless listed. The check is made on the address actually connected to, after DNS and on every redirect, so a
/// name that resolves somewhere unexpected is refused too.
/// </summary>
public sealed class RemotePolicy
{
    private readonly List<string> _names = [];
    private readonly List<(IPAddress Network, int Prefix)> _ranges = [];

    /// <summary>Parses the rules; <paramref name="errors"/> lists what could not be read.</summary>
    public RemotePolicy(IEnumerable<string> rules, out List<string> errors)
    {
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

    /// <summary>Whether any rule was given (else everything but link-local addresses is allowed).</summary>
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

        var linkLocal = address.IsIPv6LinkLocal || (address.AddressFamily == AddressFamily.InterNetwork && address.GetAddressBytes() is [169, 254, ..]);
        if (!IsRestricted)
        {
            return !linkLocal;
        }

        // A listed name still may not be pointed at a link-local address.
        return !linkLocal && NameAllowed(host);
    }

    /// <summary>A refusal to show the user before any connection is made, or null: for URLs whose host is an address.</summary>
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
    public static string Refusal(string host) => $"The remote {host} is not one this service may connect to (Transfer:AllowedRemotes)";

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
    /// <exception cref="HttpRequestException">No address of the host is allowed, or none answered.</exception>
    public async Task<Socket> ConnectSocketAsync(string host, int port, CancellationToken cancellationToken)
    {
        var addresses = IPAddress.TryParse(host, out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, cancellationToken);
        var allowed = addresses.Where(a => Allows(host, a)).ToArray();
        if (allowed.Length == 0)
        {
            throw new HttpRequestException(Refusal(host));
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
