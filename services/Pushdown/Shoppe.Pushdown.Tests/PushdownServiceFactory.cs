using Apache.Arrow;
using Apache.Arrow.Flight;
using Apache.Arrow.Flight.Client;
using Grpc.Core;
using Grpc.Net.Client;
using Shoppe.Columnar.Io;
using Shoppe.Pushdown.Client;

namespace Shoppe.Pushdown.Tests;

/// <summary>
/// The real pushdown service (its Program) serving the NanoAOD samples as dataset <c>nanoaod-samples</c>, with
/// clients for both wires: HTTP (<see cref="PushdownClient"/>) and Arrow Flight (Apache.Arrow.Flight's own client over
/// gRPC, in memory through the test server's handler).
/// </summary>
public sealed class PushdownServiceFactory(string dataRoot, IDictionary<string, string?>? settings = null) : ShoppeServiceFactory<Program>(dataRoot, new Dictionary<string, string?>
{
    ["Pushdown:StorageRoots:0"] = Samples.Folder,
    ["Pushdown:Datasets:nanoaod-samples:0"] = "/",
}, settings)
{
    /// <summary>The dataset's files in the order a scan reads them (by name).</summary>
    public static readonly string[] SampleFiles = [Samples.Dimuon, Samples.DrellYan];

    public PushdownClient Http(string user) => new(ClientFor(user));

    /// <summary>A Flight client over gRPC, and the call headers carrying <paramref name="user"/>'s token (none for null).</summary>
    public (FlightClient Client, Metadata Headers, GrpcChannel Channel) Flight(string? user)
    {
        var channel = GrpcChannel.ForAddress(Server.BaseAddress, new GrpcChannelOptions { HttpHandler = Server.CreateHandler() });
        var headers = new Metadata();
        if (user is not null)
        {
            headers.Add("authorization", $"Bearer {Token(user)}");
        }

        return (new FlightClient(channel), headers, channel);
    }

    /// <summary>Reads every batch of an HTTP scan into a Parquet file (for DuckDB to read back).</summary>
    public static async Task<(string Path, string? ScanId, long Rows)> ReadAllAsync(ScanReader reader, string path)
    {
        ColumnarWriter? writer = null;
        long rows = 0;
        try
        {
            while (await reader.ReadNextAsync(TestContext.Current.CancellationToken) is { } batch)
            {
                using (batch)
                {
                    writer ??= new ColumnarWriter(path, batch.Schema, OutputFormat.Parquet);
                    writer.Write(batch);
                    rows += batch.Length;
                }
            }

            writer ??= new ColumnarWriter(path, reader.Schema, OutputFormat.Parquet);
            writer.Commit();
            return (path, reader.ScanId, rows);
        }
        finally
        {
            writer?.Dispose();
        }
    }

    /// <summary>Reads every endpoint of <paramref name="info"/> (in order) into a Parquet file.</summary>
    public static async Task<long> ReadAllAsync(FlightClient client, FlightInfo info, Metadata headers, string path)
    {
        using var writer = new ColumnarWriter(path, info.Schema, OutputFormat.Parquet);
        long rows = 0;
        foreach (var endpoint in info.Endpoints)
        {
            using var call = client.GetStream(endpoint.Ticket, headers);
            while (await call.ResponseStream.MoveNext(TestContext.Current.CancellationToken))
            {
                using RecordBatch batch = call.ResponseStream.Current;
                writer.Write(batch);
                rows += batch.Length;
            }
        }

        writer.Commit();
        return rows;
    }

    /// <summary>DuckDB's rows of an ADL query over the samples, file after file as the scan reads them.</summary>
    public static List<object[]> Expected(AdlQuery query) => [.. SampleFiles.SelectMany(query.Expected)];

    /// <summary>The rows of a Parquet file written from a scan, as DuckDB reads them.</summary>
    public static List<object[]> Actual(string path) => DuckDb.Query($"SELECT * FROM read_parquet('{path}')");
}
