using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Apache.Arrow;
using Apache.Arrow.Flight;
using Apache.Arrow.Flight.Client;
using Grpc.Core;
using Grpc.Net.Client;

namespace Shoppe.Pushdown.Client;

/// <summary>An endpoint that could not be read from any of its locations; the message names the node that failed last.</summary>
public sealed class FlightEndpointException(string message, RpcException inner) : Exception(message, inner)
{
    /// <summary>The last location tried.</summary>
    public required string Location { get; init; }

    /// <summary>The gRPC status of the last failure.</summary>
    public StatusCode Status => ((RpcException)InnerException!).StatusCode;
}

/// <summary>
/// Reads a scan's endpoints over Arrow Flight, in order, each from the first of its locations that answers: where a
/// node fails (unreachable, or broken off mid-stream), the next location (a replica of the same storage) serves
/// the same ticket, and the batches already read from the failed one are skipped (a scan's batches are the same
/// wherever it runs). An endpoint without locations is read from <paramref name="fallback"/>, the service asked.
/// </summary>
/// <param name="fallback">The client of the service that planned the scan.</param>
/// <param name="names">How errors name a location (a node's name); the location itself by default.</param>
public sealed class FlightReader(FlightClient fallback, Func<string, string>? names = null) : IDisposable
{
    private readonly ConcurrentDictionary<string, (GrpcChannel Channel, FlightClient Client)> _clients = new(StringComparer.Ordinal);

    /// <summary>The batches of every endpoint of <paramref name="info"/>, in endpoint order; the caller disposes each.</summary>
    /// <exception cref="FlightEndpointException">An endpoint failed on every location; a failure that is the scan's own (a bad selection, a join that does not line up) is not retried elsewhere.</exception>
    public async IAsyncEnumerable<RecordBatch> ReadAsync(FlightInfo info, Metadata headers, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(info);
        for (var e = 0; e < info.Endpoints.Count; e++)
        {
            var endpoint = info.Endpoints[e];
            var locations = endpoint.Locations.Select(l => l.Uri).ToList();
            if (locations.Count == 0)
            {
                locations.Add("");
            }

            var delivered = 0;
            for (var l = 0; ; l++)
            {
                var location = locations[l];
                var client = location.Length == 0 ? fallback : Client(location);
                using var call = client.GetStream(endpoint.Ticket, headers);
                var seen = 0;
                RpcException? failure = null;
                var enumerator = call.ResponseStream;
                while (true)
                {
                    RecordBatch batch;
                    try
                    {
                        if (!await enumerator.MoveNext(cancellationToken))
                        {
                            break;
                        }

                        batch = enumerator.Current;
                    }
                    catch (RpcException ex) when (Retryable(ex.StatusCode))
                    {
                        failure = ex;
                        break;
                    }
                    catch (RpcException ex)
                    {
                        throw new FlightEndpointException($"{Name(location)}: {ex.Status.Detail}", ex) { Location = location };
                    }

                    if (++seen <= delivered)
                    {
                        batch.Dispose(); // read already from a location that failed
                        continue;
                    }

                    delivered = seen;
                    yield return batch;
                }

                if (failure is null)
                {
                    break;
                }

                if (l + 1 >= locations.Count)
                {
                    throw new FlightEndpointException($"pushdown node {Name(location)} failed after {delivered} batches of endpoint {e + 1} of {info.Endpoints.Count}{(locations.Count > 1 ? $" (and its {locations.Count - 1} other location(s))" : "")}: {failure.Status.StatusCode} {failure.Status.Detail}", failure) { Location = location };
                }
            }
        }
    }

    private static bool Retryable(StatusCode code) => code is StatusCode.Unavailable or StatusCode.Internal or StatusCode.Unknown or StatusCode.DeadlineExceeded or StatusCode.ResourceExhausted or StatusCode.Aborted;

    private string Name(string location) => location.Length == 0 ? "the service asked" : names?.Invoke(location) ?? location;

    private FlightClient Client(string location) => _clients.GetOrAdd(location, l =>
    {
        var channel = GrpcChannel.ForAddress(ToHttp(l), new GrpcChannelOptions { MaxReceiveMessageSize = null });
        return (channel, new FlightClient(channel));
    }).Client;

    /// <summary>A Flight location as the address a gRPC channel takes: <c>grpc+tcp://h:p</c> and <c>grpc://h:p</c> are plain HTTP/2, <c>grpc+tls://h:p</c> HTTPS.</summary>
    public static string ToHttp(string location)
    {
        ArgumentNullException.ThrowIfNull(location);
        return location.StartsWith("grpc+tls://", StringComparison.Ordinal) ? "https://" + location["grpc+tls://".Length..]
            : location.StartsWith("grpc+tcp://", StringComparison.Ordinal) ? "http://" + location["grpc+tcp://".Length..]
            : location.StartsWith("grpc://", StringComparison.Ordinal) ? "http://" + location["grpc://".Length..]
            : location;
    }

    public void Dispose()
    {
        foreach (var (channel, _) in _clients.Values)
        {
            channel.Dispose();
        }
    }
}
