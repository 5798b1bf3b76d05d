using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Grpc.Core;
using Shoppe.Pushdown.Client;
using Shoppe.Pushdown.Scans;
using Shoppe.Security;
using Shoppe.ServiceDefaults.RequestIds;
using Protocol = Shoppe.Pushdown.Flight.Protocol;

namespace Shoppe.Pushdown.Flight;

/// <summary>
/// Flight's <c>PollFlightInfo</c> for long scans: the first call starts planning (reading every file's footer and
/// pruning its row groups) in the background and answers at once with the endpoints planned so far, the progress
/// (files planned of all), and a descriptor to poll again (<c>poll:&lt;scan id&gt;</c>); the last answer has every
/// endpoint and no descriptor. A client can read endpoints while later ones are still being planned.
/// </summary>
public sealed class PollService(ScanService scans, PushdownFlightServer flight, Coordinator.NodeCoordinator nodes) : Protocol.FlightService.FlightServiceBase
{
    private const string PollPrefix = "poll:";

    /// <summary>How long a poll waits for planning to finish before answering with what there is.</summary>
    private static readonly TimeSpan Wait = TimeSpan.FromMilliseconds(200);

    public override async Task<Protocol.PollInfo> PollFlightInfo(Protocol.FlightDescriptor request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(context);
        var user = context.GetHttpContext().User.UserName()!;
        if (nodes.Enabled)
        {
            // A coordinator's plan is its nodes' plans: answered whole, in one poll.
            var descriptor = request.Type == Protocol.FlightDescriptor.Types.DescriptorType.Cmd
                ? Apache.Arrow.Flight.FlightDescriptor.CreateCommandDescriptor(request.Cmd.ToByteArray())
                : Apache.Arrow.Flight.FlightDescriptor.CreatePathDescriptor([.. request.Path]);
            var planned = await nodes.PlanAsync(descriptor, Coordinator.NodeCoordinator.Forward(context.RequestHeaders.GetValue("authorization")), context.CancellationToken);
            var info = new Protocol.FlightInfo { FlightDescriptor = request, TotalRecords = planned.TotalRecords, TotalBytes = planned.TotalBytes, Ordered = true, Schema = ByteString.CopyFrom(Apache.Arrow.ArrowSerializationHelpers.SerializeSchema(planned.Schema)) };
            foreach (var endpoint in planned.Endpoints)
            {
                var converted = new Protocol.FlightEndpoint { Ticket = new Protocol.Ticket { Ticket_ = ByteString.CopyFrom(endpoint.Ticket.Ticket.ToByteArray()) } };
                converted.Location.Add(endpoint.Locations.Select(l => new Protocol.Location { Uri = l.Uri }));
                info.Endpoint.Add(converted);
            }

            return new Protocol.PollInfo { Info = info, Progress = 1.0 };
        }

        try
        {
            PollState poll;
            if (request.Type == Protocol.FlightDescriptor.Types.DescriptorType.Cmd && request.Cmd.Span.StartsWith(PollPrefix.Select(c => (byte)c).ToArray()))
            {
                var id = Encoding.UTF8.GetString(request.Cmd.Span[PollPrefix.Length..]);
                if (scans.Registry.Find(id) is not { } known || known.Owner != user || known.Tag is not PollState polled)
                {
                    throw new ScanRequestException(404, "No such scan", $"There is no scan {id} of yours being planned on this node.");
                }

                poll = polled;
            }
            else
            {
                poll = Start(request, user, context);
            }

            await Task.WhenAny(poll.Planning, Task.Delay(Wait, context.CancellationToken));
            return Answer(poll);
        }
        catch (Exception ex)
        {
            throw FlightErrors.From(ex);
        }
    }

    private PollState Start(Protocol.FlightDescriptor request, string user, ServerCallContext context)
    {
        if (request.Type != Protocol.FlightDescriptor.Types.DescriptorType.Cmd)
        {
            throw new ScanRequestException(400, "Bad descriptor", "PollFlightInfo takes a scan request as a CMD descriptor (JSON: dataset, columns, filter, join).");
        }

        var scan = PushdownFlightServer.ParseCommand(request.Cmd.Span);

        var spec = scans.Check(scan, out var description);
        var state = scans.Registry.Start(RequestId.Current ?? RequestId.NewId(), user, description);
        var poll = new PollState(scan, spec, state, request);
        state.Tag = poll;
        var id = state.Id;
        poll.Planning = Task.Run(async () =>
        {
            using var scope = RequestId.BeginScope(id);
            try
            {
                await scans.PlanAsync(spec, state, CancellationToken.None);
            }
            catch (Exception ex)
            {
                state.PlanFailure = ex;
                scans.Finish(state, ex);
            }
        }, CancellationToken.None);
        return poll;
    }

    private Protocol.PollInfo Answer(PollState poll)
    {
        var state = poll.State;
        if (state.PlanFailure is { } failure)
        {
            throw failure;
        }

        var plan = state.Plan;
        List<ScanRange> ranges;
        lock (state.Planned)
        {
            ranges = [.. state.Planned];
        }

        // Every answer gives the same ticket for an endpoint (later answers only add endpoints): its count of ranges
        // is left unknown (0), and the scan's status counts by its plan.
        var known = new ScanPlan(new Apache.Arrow.Schema([], null), plan?.Ranges ?? ranges, 0, 0, 0, 0);
        var info = new Protocol.FlightInfo { FlightDescriptor = poll.Descriptor, TotalRecords = -1, TotalBytes = -1, Ordered = true };
        if (plan is not null)
        {
            info.Schema = ByteString.CopyFrom(Apache.Arrow.ArrowSerializationHelpers.SerializeSchema(plan.Schema));
            info.TotalRecords = poll.Spec.Filter is null ? plan.EventsToScan : -1;
        }

        foreach (var range in known.Ranges)
        {
            var endpoint = new Protocol.FlightEndpoint { Ticket = new Protocol.Ticket { Ticket_ = ByteString.CopyFrom(PushdownFlightServer.Ticket(poll.Scan, poll.Spec, known, range, state.Id, unknownCount: true)) } };
            if (flight.Location is { } location)
            {
                endpoint.Location.Add(new Protocol.Location { Uri = location });
            }

            info.Endpoint.Add(endpoint);
        }

        if (plan is not null)
        {
            return new Protocol.PollInfo { Info = info, Progress = 1.0 };
        }

        return new Protocol.PollInfo
        {
            Info = info,
            FlightDescriptor = new Protocol.FlightDescriptor { Type = Protocol.FlightDescriptor.Types.DescriptorType.Cmd, Cmd = ByteString.CopyFromUtf8(PollPrefix + state.Id) },
            Progress = poll.Spec.Files.Count == 0 ? 0 : (double)state.FilesPlanned / poll.Spec.Files.Count,
        };
    }

    /// <summary>A scan being planned for PollFlightInfo.</summary>
    private sealed class PollState(ScanRequest scan, ScanSpec spec, ScanState state, Protocol.FlightDescriptor descriptor)
    {
        public ScanRequest Scan { get; } = scan;

        public ScanSpec Spec { get; } = spec;

        public ScanState State { get; } = state;

        public Protocol.FlightDescriptor Descriptor { get; } = descriptor;

        public Task Planning { get; set; } = Task.CompletedTask;
    }
}
