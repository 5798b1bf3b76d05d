using Apache.Arrow.Flight;
using Grpc.Core;
using Shoppe.Pushdown.Client;
using Protocol = Shoppe.Pushdown.Flight.Protocol;

namespace Shoppe.Pushdown.Tests.Flight;

/// <summary>
/// Arrow Flight with Apache.Arrow.Flight's own client over gRPC: GetFlightInfo and DoGet of every ADL query against
/// DuckDB, the same rows as over HTTP, ListFlights, PollFlightInfo, and the errors a Flight client sees.
/// </summary>
public sealed class FlightTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("shoppe-flight-").FullName;
    private readonly PushdownServiceFactory _service;

    public FlightTests() => _service = new PushdownServiceFactory(_root, new Dictionary<string, string?> { ["Pushdown:FlightLocation"] = null });

    public void Dispose()
    {
        _service.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    [Theory]
    [MemberData(nameof(AdlQueries.Names), MemberType = typeof(AdlQueries))]
    public async Task AdlQuery_OverFlight_EqualsDuckDbAndHttp(string name)
    {
        var query = AdlQueries.All.Single(q => q.Name == name);
        var (client, headers, channel) = _service.Flight("alice");
        using var owned = channel;
        var request = ScanRequest.Of("nanoaod-samples", query.Columns, query.Filter);
        var info = await client.GetInfo(FlightDescriptor.CreateCommandDescriptor(request.ToJson()), headers).ResponseAsync;
        Assert.Equal(2, info.Endpoints.Count); // one per file: each sample is one row group
        Assert.All(info.Endpoints, e => Assert.Empty(e.Locations)); // no location configured: read from this service
        var flight = Path.Combine(_root, "flight.parquet");
        await PushdownServiceFactory.ReadAllAsync(client, info, headers, flight);
        DuckDb.AssertSame(PushdownServiceFactory.Expected(query), PushdownServiceFactory.Actual(flight));

        using var reader = await _service.Http("alice").ScanAsync(request, TestContext.Current.CancellationToken);
        var (http, _, _) = await PushdownServiceFactory.ReadAllAsync(reader, Path.Combine(_root, "http.parquet"));
        DuckDb.AssertSame(PushdownServiceFactory.Actual(http), PushdownServiceFactory.Actual(flight));
    }

    [Fact]
    public async Task Endpoints_CarryTheConfiguredLocation()
    {
        using var service = new PushdownServiceFactory(Path.Combine(_root, "located"), new Dictionary<string, string?> { ["Pushdown:FlightLocation"] = "grpc+tcp://127.0.0.1:5115" });
        var (client, headers, channel) = service.Flight("alice");
        using var owned = channel;
        var info = await client.GetInfo(FlightDescriptor.CreatePathDescriptor("nanoaod-samples"), headers).ResponseAsync;
        Assert.All(info.Endpoints, e => Assert.Equal("grpc+tcp://127.0.0.1:5115", Assert.Single(e.Locations).Uri));
        Assert.Equal(80, info.TotalRecords); // a dataset read whole: every event
        Assert.Contains(info.Schema.FieldsList, f => f.Name == "Muon_pt");
    }

    [Fact]
    public async Task ListFlights_ListsTheDatasets()
    {
        var (client, headers, channel) = _service.Flight("alice");
        using var owned = channel;
        var listed = new List<FlightInfo>();
        using var call = client.ListFlights(new FlightCriteria(""), headers);
        while (await call.ResponseStream.MoveNext(TestContext.Current.CancellationToken))
        {
            listed.Add(call.ResponseStream.Current);
        }

        var samples = Assert.Single(listed);
        Assert.Equal(["nanoaod-samples"], samples.Descriptor.Paths);
        Assert.Equal(80, samples.TotalRecords);
    }

    [Fact]
    public async Task PollFlightInfo_EndsWithEveryEndpointAndNoDescriptor()
    {
        var (client, headers, channel) = _service.Flight("alice");
        using var owned = channel;
        var poll = new Protocol.FlightService.FlightServiceClient(channel);
        var descriptor = new Protocol.FlightDescriptor { Type = Protocol.FlightDescriptor.Types.DescriptorType.Cmd, Cmd = Google.Protobuf.ByteString.CopyFrom(ScanRequest.Of("nanoaod-samples", ["MET_pt"], "MET_pt > 20").ToJson()) };
        var info = await poll.PollFlightInfoAsync(descriptor, headers, cancellationToken: TestContext.Current.CancellationToken);
        for (var i = 0; info.FlightDescriptor is not null && i < 100; i++)
        {
            Assert.InRange(info.Progress, 0, 1);
            info = await poll.PollFlightInfoAsync(info.FlightDescriptor, headers, cancellationToken: TestContext.Current.CancellationToken);
        }

        Assert.Null(info.FlightDescriptor);
        Assert.Equal(1.0, info.Progress);
        Assert.Equal(2, info.Info.Endpoint.Count);
        long rows = 0;
        foreach (var endpoint in info.Info.Endpoint)
        {
            using var stream = client.GetStream(new FlightTicket(endpoint.Ticket.Ticket_.ToByteArray()), headers);
            while (await stream.ResponseStream.MoveNext(TestContext.Current.CancellationToken))
            {
                using var batch = stream.ResponseStream.Current;
                rows += batch.Length;
            }
        }

        Assert.Equal(DuckDb.Query($"SELECT count(*)::DOUBLE FROM read_parquet(['{Samples.Dimuon}', '{Samples.DrellYan}']) WHERE MET_pt > 20")[0][0], (double)rows);

        // Another user cannot follow the poll.
        var (_, bob, _) = _service.Flight("bob");
        var other = await Assert.ThrowsAsync<RpcException>(() => poll.PollFlightInfoAsync(new Protocol.FlightDescriptor { Type = Protocol.FlightDescriptor.Types.DescriptorType.Cmd, Cmd = Google.Protobuf.ByteString.CopyFromUtf8("poll:nope") }, bob, cancellationToken: TestContext.Current.CancellationToken).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, other.StatusCode);
    }

    [Fact]
    public async Task Errors_AreGrpcStatusesThatSayWhy()
    {
        var (client, headers, channel) = _service.Flight("alice");
        using var owned = channel;

        var badFilter = await Assert.ThrowsAsync<RpcException>(() => client.GetInfo(FlightDescriptor.CreateCommandDescriptor(ScanRequest.Of("nanoaod-samples", ["MET_pt"], "MET_pt > > 20").ToJson()), headers).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, badFilter.StatusCode);
        Assert.StartsWith("Bad selection: filter:", badFilter.Status.Detail, StringComparison.Ordinal);
        Assert.Equal("filter", badFilter.Trailers.GetValue("shoppe-where"));

        var traversal = await Assert.ThrowsAsync<RpcException>(() => client.GetInfo(FlightDescriptor.CreateCommandDescriptor("""{"dataset":["../../etc/passwd"],"columns":["MET_pt"]}"""), headers).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, traversal.StatusCode);

        var unknown = await Assert.ThrowsAsync<RpcException>(() => client.GetInfo(FlightDescriptor.CreatePathDescriptor("no-such"), headers).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);

        foreach (var ticket in new[] { "nonsense", """{"v":1,"scan":"x","ranges":1,"request":{"dataset":["/../../etc/passwd"],"columns":["MET_pt"]},"rowGroups":[0]}""", """{"v":1,"scan":"x","ranges":1,"request":{"dataset":["/nano_dy.parquet"],"columns":["MET_pt"]},"rowGroups":[7]}""" })
        {
            using var call = client.GetStream(new FlightTicket(ticket), headers);
            var bad = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(TestContext.Current.CancellationToken));
            Assert.True(bad.StatusCode is StatusCode.InvalidArgument or StatusCode.PermissionDenied, $"{ticket}: {bad.Status}");
        }

        var (anonymous, none, anonymousChannel) = _service.Flight(null);
        using var ownedAnonymous = anonymousChannel;
        var unauthenticated = await Assert.ThrowsAsync<RpcException>(() => anonymous.GetInfo(FlightDescriptor.CreatePathDescriptor("nanoaod-samples"), none).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, unauthenticated.StatusCode);
    }
}
