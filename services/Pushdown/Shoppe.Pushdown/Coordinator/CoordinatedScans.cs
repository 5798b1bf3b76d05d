using Apache.Arrow.Flight;
using Apache.Arrow.Flight.Client;
using Grpc.Core;
using Grpc.Net.Client;
using Shoppe.Pushdown.Client;
using Shoppe.Pushdown.Scans;

namespace Shoppe.Pushdown.Coordinator;

/// <summary>
/// An HTTP scan on a coordinator: planned by the nodes (<see cref="NodeCoordinator.PlanAsync"/>), then every
/// endpoint read over Flight from its node (or that node's replica, where one fails) and written on as one Arrow IPC
/// stream, in endpoint order. A node that fails with no replica left breaks the stream off, and the scan's status
/// and logs name it.
/// </summary>
public static class CoordinatedScans
{
    public static async Task RunAsync(HttpContext context, ScanRequest request, NodeCoordinator nodes, ScanService scans, ScanState state, IDisposable slot, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(nodes);
        ArgumentNullException.ThrowIfNull(scans);
        ArgumentNullException.ThrowIfNull(state);
        using (slot)
        {
            var headers = NodeCoordinator.Forward(context.Request.Headers.Authorization.ToString());
            FlightInfo info;
            try
            {
                info = await nodes.PlanAsync(FlightDescriptor.CreateCommandDescriptor(request.ToJson()), headers, cancellationToken);
            }
            catch (RpcException ex)
            {
                scans.Finish(state, ex);
                await Problem(ex).ExecuteAsync(context);
                return;
            }

            context.Response.ContentType = PushdownClient.ArrowStreamType;
            context.Response.Headers[Shoppe.ServiceDefaults.RequestIds.RequestId.HeaderName] = Shoppe.ServiceDefaults.RequestIds.RequestId.Current ?? state.Id;
            context.Response.Headers[PushdownClient.ScanIdHeader] = state.Id;
            using var fallback = GrpcChannel.ForAddress("http://127.0.0.1:1"); // every endpoint of a coordinated plan has locations
            using var reader = new FlightReader(new FlightClient(fallback), nodes.NameOf);
            await ArrowResponse.WriteAsync(context, info.Schema, reader.ReadAsync(info, headers, cancellationToken), scans, state, cancellationToken);
        }
    }

    /// <summary>A node's refusal as the problem the HTTP wire answers.</summary>
    private static Microsoft.AspNetCore.Http.HttpResults.ProblemHttpResult Problem(RpcException failure) => TypedResults.Problem(
        statusCode: failure.StatusCode switch
        {
            StatusCode.InvalidArgument => 400,
            StatusCode.Unauthenticated => 401,
            StatusCode.PermissionDenied => 403,
            StatusCode.NotFound => 404,
            StatusCode.FailedPrecondition => 409,
            StatusCode.ResourceExhausted => 503,
            _ => 502,
        },
        title: failure.StatusCode is StatusCode.Unavailable or StatusCode.Internal or StatusCode.Unknown ? "Pushdown node failed" : "Scan refused",
        detail: failure.Status.Detail);
}
