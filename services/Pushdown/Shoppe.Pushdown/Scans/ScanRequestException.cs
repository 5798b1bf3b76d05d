namespace Shoppe.Pushdown.Scans;

/// <summary>
/// A scan the node refuses or cannot finish, with what to tell the caller: an RFC 9457 problem over HTTP, a gRPC
/// status over Flight (<see cref="Flight.FlightErrors"/>).
/// </summary>
public sealed class ScanRequestException(int status, string title, string detail, Exception? inner = null) : Exception(detail, inner)
{
    /// <summary>The HTTP status it answers: 400 malformed, 403 outside the storage, 404 unknown, 409 a join that does not line up, 422 unreadable, 503 busy.</summary>
    public int Status { get; } = status;

    public string Title { get; } = title;
}
