using System.Text.Json;
using Apache.Arrow;
using Apache.Arrow.Flight;
using Apache.Arrow.Flight.Server;
using Grpc.Core;
using Microsoft.Extensions.Options;
using Shoppe.Pushdown.Apis;
using Shoppe.Pushdown.Client;
using Shoppe.Pushdown.Scans;
using Shoppe.Pushdown.Storage;
using Shoppe.Security;
using Shoppe.ServiceDefaults.RequestIds;

namespace Shoppe.Pushdown.Flight;

/// <summary>
/// Arrow Flight (gRPC + Arrow IPC) for scans. <c>GetFlightInfo</c> plans a scan (a CMD descriptor holds a scan
/// request as JSON; a PATH descriptor names a dataset, read whole) and answers its schema and one endpoint per
/// range (a file's row groups, at most <see cref="PushdownOptions.EndpointEvents"/> events), each with this node's
/// location, so a client reads them in parallel; <c>DoGet</c> streams one endpoint's batches; <c>ListFlights</c>
/// lists the datasets; <c>GetSchema</c> plans without running. PollFlightInfo is <see cref="PollService"/>.
/// The facility's bearer tokens authenticate every call; request ids travel as <c>x-shoppe-request-id</c>.
/// </summary>
public sealed class PushdownFlightServer(ScanService scans, StorageCatalog storage, Coordinator.NodeCoordinator nodes, IOptions<PushdownOptions> options) : FlightServer
{
    /// <summary>The location endpoints name (null: the service the client asked).</summary>
    public string? Location { get; } = options.Value.AdvertisedLocation;

    public override async Task<FlightInfo> GetFlightInfo(FlightDescriptor request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(context);
        if (nodes.Enabled)
        {
            // A coordinator: the nodes plan their parts; their errors already name them.
            return await nodes.PlanAsync(request, Coordinator.NodeCoordinator.Forward(context.RequestHeaders.GetValue("authorization")), context.CancellationToken);
        }

        try
        {
            var (scan, state, spec) = Begin(ToRequest(request), context);
            ScanPlan plan;
            try
            {
                plan = await scans.PlanAsync(spec, state, context.CancellationToken);
            }
            catch (Exception ex)
            {
                scans.Finish(state, ex);
                throw;
            }

            if (plan.Ranges.Count == 0)
            {
                scans.Finish(state, null); // nothing to read: every row group pruned
            }

            return Info(request, scan, spec, plan, state.Id);
        }
        catch (Exception ex)
        {
            throw FlightErrors.From(ex);
        }
    }

    public override async Task<Schema> GetSchema(FlightDescriptor request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (nodes.Enabled)
        {
            return (await nodes.PlanAsync(request, Coordinator.NodeCoordinator.Forward(context.RequestHeaders.GetValue("authorization")), context.CancellationToken)).Schema;
        }

        try
        {
            var scan = ToRequest(request);
            var spec = scans.Check(scan, out _);
            var state = new ScanState(RequestId.Current ?? RequestId.NewId(), context.GetHttpContext().User.UserName()!, spec.Dataset, DateTimeOffset.UtcNow);
            return (await scans.PlanAsync(spec, state, context.CancellationToken)).Schema;
        }
        catch (Exception ex)
        {
            throw FlightErrors.From(ex);
        }
    }

    public override async Task DoGet(FlightTicket ticket, FlightServerRecordBatchStreamWriter responseStream, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(ticket);
        ArgumentNullException.ThrowIfNull(responseStream);
        ArgumentNullException.ThrowIfNull(context);
        ScanTicket parsed;
        try
        {
            parsed = ScanTicket.Parse(ticket.Ticket.Span);
            if (!RequestId.IsValid(parsed.Scan))
            {
                throw new FormatException("its scan id is not a request id");
            }
        }
        catch (Exception ex)
        {
            throw FlightErrors.From(ex);
        }

        using var scope = RequestId.Current == parsed.Scan ? null : RequestId.BeginScope(parsed.Scan);
        ScanSpec spec;
        ScanState state;
        ScanRange range;
        Schema schema;
        IDisposable? slot = null;
        try
        {
            spec = scans.Check(parsed.Request, out var description);
            if (spec.Files.Count != 1)
            {
                throw new FormatException("a ticket names one file");
            }

            (range, schema) = await Task.Run(() => Range(spec, parsed.RowGroups), context.CancellationToken);
            slot = scans.Registry.TryEnter() ?? throw new ScanRequestException(503, "Busy", "This node runs as many scans as it may; try again shortly.");
            state = scans.Registry.Begin(parsed.Scan, context.GetHttpContext().User.UserName()!, description);
        }
        catch (Exception ex)
        {
            slot?.Dispose();
            throw FlightErrors.From(ex);
        }

        using (slot)
        {
            try
            {
                await responseStream.SetupStream(schema);
                await foreach (var batch in scans.RunAsync(spec, range, state, context.CancellationToken))
                {
                    using (batch)
                    {
                        await responseStream.WriteAsync(batch);
                        state.AddBatch(batch.Length);
                    }
                }
            }
            catch (Exception ex)
            {
                scans.Finish(state, ex);
                throw FlightErrors.From(ex);
            }

            if (state.CompleteRange(parsed.Ranges))
            {
                scans.Finish(state, null);
            }
        }
    }

    public override async Task ListFlights(FlightCriteria request, IAsyncStreamWriter<FlightInfo> responseStream, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(responseStream);
        ArgumentNullException.ThrowIfNull(context);
        if (nodes.Enabled)
        {
            foreach (var info in await nodes.ListAsync(Coordinator.NodeCoordinator.Forward(context.RequestHeaders.GetValue("authorization")), context.CancellationToken))
            {
                await responseStream.WriteAsync(info);
            }

            return;
        }

        foreach (var name in storage.Names)
        {
            DatasetInfo dataset;
            Schema schema;
            try
            {
                dataset = await DatasetsApi.DescribeAsync(storage, name, context.CancellationToken);
                schema = await Task.Run(() =>
                {
                    using var first = ScanPlanner.Open(storage.Resolve(JsonSerializer.SerializeToElement(name, PushdownJsonContext.Default.String), out _)[0]);
                    return first.Schema;
                }, context.CancellationToken);
            }
            catch (ScanRequestException)
            {
                continue; // configured, but holding no readable file: nothing to scan
            }

            await responseStream.WriteAsync(new FlightInfo(schema, FlightDescriptor.CreatePathDescriptor(name), [], dataset.Events, dataset.Bytes));
        }
    }

    /// <summary>A descriptor as a scan request: a CMD's JSON, or a PATH naming a dataset (every column its files share, no filter).</summary>
    private ScanRequest ToRequest(FlightDescriptor descriptor)
    {
        if (descriptor.Type == FlightDescriptorType.Command)
        {
            return ParseCommand(descriptor.Command.Span);
        }

        var path = descriptor.Paths.ToList();
        if (path.Count != 1)
        {
            throw new ScanRequestException(400, "Bad descriptor", "A path descriptor names one dataset.");
        }

        // Every column all the dataset's files have (files of one dataset may differ: simulation and data).
        var dataset = JsonSerializer.SerializeToElement(path[0], PushdownJsonContext.Default.String);
        List<string>? columns = null;
        foreach (var file in storage.Resolve(dataset, out _))
        {
            using var opened = ScanPlanner.Open(file);
            columns = columns is null ? [.. opened.Schema.FieldsList.Select(f => f.Name)] : [.. columns.Where(c => opened.Schema.GetFieldIndex(c) >= 0)];
        }

        return new ScanRequest(dataset, columns);
    }

    /// <summary>A CMD descriptor's body: a scan request as JSON, of a bounded size.</summary>
    internal static ScanRequest ParseCommand(ReadOnlySpan<byte> command)
    {
        if (command.Length > ScanService.MaxRequestBytes)
        {
            throw new ScanRequestException(413, "Request too large", $"A scan request may be at most {ScanService.MaxRequestBytes / (1024 * 1024)} MiB.");
        }

        try
        {
            return JsonSerializer.Deserialize(command, PushdownJsonContext.Default.ScanRequest)
                ?? throw new ScanRequestException(400, "Malformed request", "The command is empty.");
        }
        catch (JsonException ex)
        {
            throw new ScanRequestException(400, "Malformed request", $"The command is not a scan request (JSON: dataset, columns, filter, join): {ex.Message}");
        }
    }

    private (ScanRequest Scan, ScanState State, ScanSpec Spec) Begin(ScanRequest scan, ServerCallContext context)
    {
        var spec = scans.Check(scan, out var description);
        var state = scans.Registry.Start(RequestId.Current ?? RequestId.NewId(), context.GetHttpContext().User.UserName()!, description);
        return (scan, state, spec);
    }

    /// <summary>The scan's endpoints: one ticket per range, each naming its file alone.</summary>
    internal FlightInfo Info(FlightDescriptor descriptor, ScanRequest scan, ScanSpec spec, ScanPlan plan, string id)
    {
        var locations = Location is null ? [] : new[] { new FlightLocation(Location) };
        var endpoints = plan.Ranges.Select(range => new FlightEndpoint(new FlightTicket(Ticket(scan, spec, plan, range, id)), locations)).ToList();
        // The exact number of results is known only once the filter has run; without one it is the events read.
        return new FlightInfo(plan.Schema, descriptor, endpoints, spec.Filter is null ? plan.EventsToScan : -1, -1);
    }

    internal static byte[] Ticket(ScanRequest scan, ScanSpec spec, ScanPlan plan, ScanRange range, string id, bool unknownCount = false)
    {
        static JsonElement One(string path) => JsonSerializer.SerializeToElement(new[] { path }, PushdownJsonContext.Default.StringArray);
        var narrowed = new ScanRequest(One(spec.Files[range.File].Name), scan.Columns, scan.Filter,
            spec.Joined.Count == 0 ? null : [.. spec.Joined.Select(j => One(j[range.File].Name))]);
        return new ScanTicket(1, id, unknownCount ? 0 : plan.Ranges.Count, narrowed, range.RowGroups).ToBytes();
    }

    /// <summary>A ticket's range checked against its file: row groups it has, and the output schema.</summary>
    private static (ScanRange Range, Schema Schema) Range(ScanSpec spec, IReadOnlyList<int> rowGroups)
    {
        using var file = ScanPlanner.Open(spec.Files[0]);
        var joined = ScanPlanner.OpenAll(spec.Joined.Select(j => j[0]));
        try
        {
            var schema = joined.Count == 0 ? file.Schema : Joins.AlignedBatches.CombinedSchema(file, joined, [.. spec.Joined.Select(j => j[0].Name).Prepend(spec.Files[0].Name)]);
            var query = ScanPlanner.Compile(schema, spec, spec.Files[0]);
            long events = 0;
            for (var i = 1; i < rowGroups.Count; i++)
            {
                if (rowGroups[i] <= rowGroups[i - 1])
                {
                    throw new FormatException("its row groups are not distinct and in order");
                }
            }

            foreach (var group in rowGroups)
            {
                if (group < 0 || group >= file.RowGroups)
                {
                    throw new FormatException($"it names row group {group} of {spec.Files[0].Name}, which has {file.RowGroups}");
                }

                events += file.RowGroupEvents(group);
            }

            if (joined.Count > 0 && rowGroups.Count != file.RowGroups)
            {
                throw new FormatException("a join's ticket reads whole files");
            }

            if (joined.FirstOrDefault(j => j.Events != file.Events) is { } uneven)
            {
                throw new ScanRequestException(409, "Join does not line up", $"a joined file has {uneven.Events} events and {spec.Files[0].Name} {file.Events}");
            }

            return (new ScanRange(0, rowGroups, events), query.OutputSchema);
        }
        finally
        {
            foreach (var j in joined)
            {
                j.Dispose();
            }
        }
    }
}
