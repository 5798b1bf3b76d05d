using Apache.Arrow.Flight;
using Apache.Arrow.Flight.Client;
using Grpc.Core;
using Grpc.Net.Client;
using Shoppe.Pushdown.Client;
using Shoppe.Security;
using Shoppe.Testing.Hosting;

namespace Shoppe.Pushdown.Tests.Flight;

/// <summary>
/// The node as a real process on loopback: HTTP on its configured URL and Flight on its own HTTP/2 listener, a
/// client following the endpoints' advertised location over a real gRPC connection.
/// </summary>
public sealed class FlightListenerTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("shoppe-flight-node-").FullName;
    private readonly ServiceProcesses _processes = new();

    public void Dispose()
    {
        _processes.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public async Task Node_ServesHttpAndFlight_OnTheirListeners()
    {
        var keyFile = Path.Combine(_root, "signing.key");
        var token = new TokenIssuer(new ShoppeSecurityOptions { SigningKeyFile = keyFile }, TimeProvider.System).Issue("alice", [], TimeSpan.FromHours(1));
        var flightPort = Loopback.FreePort();
        var (_, url) = await _processes.StartServiceAsync("Shoppe.Pushdown.dll", new Dictionary<string, string>
        {
            ["Shoppe__DataRoot"] = Path.Combine(_root, "data"),
            ["Shoppe__Security__SigningKeyFile"] = keyFile,
            ["Pushdown__StorageRoots__0"] = Samples.Folder,
            ["Pushdown__Datasets__nanoaod-samples__0"] = "/",
            ["Pushdown__FlightUrl"] = $"http://127.0.0.1:{flightPort}",
        }, TestContext.Current.CancellationToken);

        var headers = new Metadata { { "authorization", $"Bearer {token}" } };
        var request = ScanRequest.Of("nanoaod-samples", ["MET_pt", "Muon_pt"], "count(Muon_pt > 10) >= 2");
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{flightPort}");
        var info = await new FlightClient(channel).GetInfo(FlightDescriptor.CreateCommandDescriptor(request.ToJson()), headers).ResponseAsync;
        long flightRows = 0;
        foreach (var endpoint in info.Endpoints)
        {
            var location = Assert.Single(endpoint.Locations).Uri;
            Assert.Equal($"grpc+tcp://127.0.0.1:{flightPort}", location);
            using var located = GrpcChannel.ForAddress(location.Replace("grpc+tcp://", "http://", StringComparison.Ordinal));
            using var call = new FlightClient(located).GetStream(endpoint.Ticket, headers);
            while (await call.ResponseStream.MoveNext(TestContext.Current.CancellationToken))
            {
                using var batch = call.ResponseStream.Current;
                flightRows += batch.Length;
            }
        }

        using var http = new HttpClient { BaseAddress = url };
        http.DefaultRequestHeaders.Authorization = new("Bearer", token);
        using var reader = await new PushdownClient(http).ScanAsync(request, TestContext.Current.CancellationToken);
        long httpRows = 0;
        while (await reader.ReadNextAsync(TestContext.Current.CancellationToken) is { } batch)
        {
            httpRows += batch.Length;
            batch.Dispose();
        }

        var expected = DuckDb.Query($"SELECT count(*)::DOUBLE FROM read_parquet(['{Samples.Dimuon}', '{Samples.DrellYan}']) WHERE len(list_filter(Muon_pt, x -> x > 10)) >= 2")[0][0];
        Assert.Equal(expected, (double)flightRows);
        Assert.Equal(expected, (double)httpRows);
    }
}
