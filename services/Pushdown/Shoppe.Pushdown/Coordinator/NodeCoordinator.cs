using Apache.Arrow.Flight;
using Apache.Arrow.Flight.Client;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Options;
using Shoppe.Pushdown.Client;
using Shoppe.ServiceDefaults.RequestIds;

namespace Shoppe.Pushdown.Coordinator;

/// <summary>
/// A coordinator's view of its pushdown nodes (<see cref="PushdownOptions.Nodes"/>): it plans a scan by asking every
/// node (those that are not replicas) for its part with the caller's token and request id, and merges the answers:
/// the nodes' endpoints in the order the nodes are configured, each located at its node and then at that node's
/// replicas. A node that holds none of the dataset answers NOT_FOUND and is left out; any other failure is the
/// scan's, naming the node.
/// </summary>
public sealed class NodeCoordinator : IDisposable
{
    private readonly List<Member> _primaries;
    private readonly Dictionary<string, string> _names = new(StringComparer.Ordinal);

    public NodeCoordinator(IOptions<PushdownOptions> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var nodes = options.Value.Nodes;
        foreach (var node in nodes)
        {
            _names[node.Location] = $"'{node.Name}' ({node.FlightUrl})";
        }

        _primaries = [.. nodes.Where(n => string.IsNullOrEmpty(n.ReplicaOf)).Select(n => new Member(
            n, [n.Location, .. nodes.Where(r => r.ReplicaOf == n.Name).Select(r => r.Location)],
            GrpcChannel.ForAddress(n.FlightUrl, new GrpcChannelOptions { MaxReceiveMessageSize = null })))];
    }

    /// <summary>How long a node may take to plan its part.</summary>
    public static readonly TimeSpan PlanTimeout = TimeSpan.FromMinutes(2);

    /// <summary>Whether this instance coordinates other nodes.</summary>
    public bool Enabled => _primaries.Count > 0;

    /// <summary>How errors name the node at <paramref name="location"/>.</summary>
    public string NameOf(string location) => _names.GetValueOrDefault(location, location);

    /// <summary>The headers a node call carries: the caller's token and the request id.</summary>
    public static Metadata Forward(string? authorization)
    {
        var headers = new Metadata();
        if (!string.IsNullOrEmpty(authorization))
        {
            headers.Add("authorization", authorization);
        }

        if (RequestId.Current is { } id)
        {
            headers.Add("x-shoppe-request-id", id);
        }

        return headers;
    }

    /// <summary>Every node's part of the scan in <paramref name="descriptor"/>, merged.</summary>
    /// <exception cref="RpcException">A node refused or failed (named), or no node holds the dataset.</exception>
    public async Task<FlightInfo> PlanAsync(FlightDescriptor descriptor, Metadata headers, CancellationToken cancellationToken)
    {
        var answers = await Task.WhenAll(_primaries.Select(async member =>
        {
            try
            {
                // A node that does not answer in time is a failed node, not a hung plan.
                return await member.Client.GetInfo(descriptor, headers, DateTime.UtcNow + PlanTimeout, cancellationToken).ResponseAsync;
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.NotFound)
            {
                return null; // this node holds none of it
            }
            catch (RpcException ex)
            {
                // The scan's own mistakes keep their code; a node's failure is "unavailable", named.
                var code = ex.StatusCode is StatusCode.InvalidArgument or StatusCode.PermissionDenied or StatusCode.FailedPrecondition or StatusCode.Unauthenticated or StatusCode.ResourceExhausted ? ex.StatusCode : StatusCode.Unavailable;
                throw new RpcException(new Status(code, $"pushdown node '{member.Node.Name}' ({member.Node.FlightUrl}): {ex.Status.Detail}"));
            }
        }));

        var parts = answers.Select((info, i) => (Info: info, Member: _primaries[i])).Where(p => p.Info is not null).ToList();
        if (parts.Count == 0)
        {
            throw new RpcException(new Status(StatusCode.NotFound, $"None of the {_primaries.Count} pushdown nodes holds this dataset ({string.Join(", ", _primaries.Select(p => p.Node.Name))})."));
        }

        var schema = parts[0].Info!.Schema;
        var endpoints = new List<FlightEndpoint>();
        long records = 0, bytes = 0;
        foreach (var (info, member) in parts)
        {
            if (!Scans.SchemaText.SameFields(schema, info!.Schema))
            {
                throw new RpcException(new Status(StatusCode.FailedPrecondition, $"pushdown node '{member.Node.Name}' gives other columns than '{parts[0].Member.Node.Name}' for this scan; its files differ."));
            }

            endpoints.AddRange(info.Endpoints.Select(e => new FlightEndpoint(e.Ticket, [.. member.Locations.Select(l => new FlightLocation(l))])));
            records = records < 0 || info.TotalRecords < 0 ? -1 : records + info.TotalRecords;
            bytes = bytes < 0 || info.TotalBytes < 0 ? -1 : bytes + info.TotalBytes;
        }

        return new FlightInfo(schema, descriptor, endpoints, records, bytes);
    }

    /// <summary>Every node's datasets, merged by name (events and bytes summed).</summary>
    public async Task<IReadOnlyList<FlightInfo>> ListAsync(Metadata headers, CancellationToken cancellationToken)
    {
        var merged = new Dictionary<string, FlightInfo>(StringComparer.Ordinal);
        foreach (var member in _primaries)
        {
            using var call = member.Client.ListFlights(new FlightCriteria(""), headers);
            while (await call.ResponseStream.MoveNext(cancellationToken))
            {
                var info = call.ResponseStream.Current;
                var name = string.Join("/", info.Descriptor.Paths);
                merged[name] = merged.TryGetValue(name, out var known)
                    ? new FlightInfo(known.Schema, known.Descriptor, [], known.TotalRecords + info.TotalRecords, known.TotalBytes + info.TotalBytes)
                    : info;
            }
        }

        return [.. merged.Values];
    }
    public void Dispose()
    {
        foreach (var member in _primaries)
        {
            member.Channel.Dispose();
        }
    }

    private sealed record Member(PushdownNode Node, IReadOnlyList<string> Locations, GrpcChannel Channel)
    {
        public FlightClient Client { get; } = new(Channel);
    }
}
