using Grpc.Core;
using Shoppe.Columnar.Io;
using Shoppe.Columnar.Selection;
using Shoppe.Pushdown.Joins;
using Shoppe.Pushdown.Scans;

namespace Shoppe.Pushdown.Flight;

/// <summary>A scan's failure as a gRPC status: the same words as the HTTP problem, with the code a Flight client expects.</summary>
public static class FlightErrors
{
    public static RpcException From(Exception failure)
    {
        ArgumentNullException.ThrowIfNull(failure);
        if (failure is RpcException rpc)
        {
            return rpc;
        }

        var (code, text) = failure switch
        {
            ScanRequestException { Status: 400 or 413 } refused => (StatusCode.InvalidArgument, $"{refused.Title}: {refused.Message}"),
            ScanRequestException { Status: 403 } refused => (StatusCode.PermissionDenied, $"{refused.Title}: {refused.Message}"),
            ScanRequestException { Status: 404 } refused => (StatusCode.NotFound, $"{refused.Title}: {refused.Message}"),
            ScanRequestException { Status: 503 } refused => (StatusCode.ResourceExhausted, $"{refused.Title}: {refused.Message}"),
            ScanRequestException refused => (StatusCode.FailedPrecondition, $"{refused.Title}: {refused.Message}"),
            SelectionException selection => (StatusCode.InvalidArgument, $"Bad selection: {ScanService.Describe(selection)}"),
            JoinMismatchException mismatch => (StatusCode.FailedPrecondition, $"Join does not line up: {mismatch.Message}"),
            ColumnarInputException { IsTransient: true } input => (StatusCode.Unavailable, input.Message),
            ColumnarInputException input => (StatusCode.FailedPrecondition, $"Unreadable file: {input.Message}"),
            FormatException format => (StatusCode.InvalidArgument, $"Not a ticket of this service: {format.Message}"),
            OperationCanceledException => (StatusCode.Cancelled, "The scan was cancelled."),
            _ => (StatusCode.Internal, "The scan failed on the node; its logs say why."),
        };
        var trailers = new Metadata();
        if (failure is SelectionException s)
        {
            trailers.Add("shoppe-where", s.Where ?? "selection");
            trailers.Add("shoppe-position", (s.Position + 1).ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        return new RpcException(new Status(code, text), trailers, text);
    }
}
