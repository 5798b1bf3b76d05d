using System.Text.Json;
using System.Text.Json.Serialization;
using Shoppe.Pushdown.Client;

namespace Shoppe.Pushdown.Flight;

/// <summary>
/// A Flight ticket of this node: one range of a scan, self-contained (the scan's request narrowed to the range's
/// file, and the row groups to read), so that any node holding the same storage can serve it. A ticket is input
/// like any other: it is checked again in full when it comes back (the files under the storage roots, the
/// selection, the row groups), and its owner is whoever presents it with a valid token.
/// </summary>
/// <param name="Version">The ticket format (1).</param>
/// <param name="Scan">The scan's request id.</param>
/// <param name="Ranges">How many ranges the scan has (its status ends when all are read); 0 when not known as the ticket was made (PollFlightInfo).</param>
/// <param name="Request">The scan narrowed to one file (and its paired joined files).</param>
/// <param name="RowGroups">The row groups to read.</param>
public sealed record ScanTicket(
    [property: JsonPropertyName("v")] int Version,
    string Scan,
    int Ranges,
    ScanRequest Request,
    IReadOnlyList<int> RowGroups)
{
    /// <summary>The largest ticket accepted.</summary>
    public const int MaxBytes = 1024 * 1024;

    public byte[] ToBytes() => JsonSerializer.SerializeToUtf8Bytes(this, FlightJsonContext.Default.ScanTicket);

    /// <summary>Reads a ticket this node made.</summary>
    /// <exception cref="FormatException">Not such a ticket.</exception>
    public static ScanTicket Parse(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length > MaxBytes)
        {
            throw new FormatException($"a ticket of {bytes.Length} bytes is larger than any this node makes");
        }

        ScanTicket? ticket;
        try
        {
            ticket = JsonSerializer.Deserialize(bytes, FlightJsonContext.Default.ScanTicket);
        }
        catch (JsonException ex)
        {
            throw new FormatException($"not JSON of a scan ticket ({ex.Message})");
        }

        if (ticket is null || ticket.Version != 1 || string.IsNullOrEmpty(ticket.Scan) || ticket.Request is null || ticket.RowGroups is null || ticket.Ranges < 0)
        {
            throw new FormatException("not a version-1 scan ticket of this service");
        }

        return ticket;
    }
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ScanTicket))]
internal sealed partial class FlightJsonContext : JsonSerializerContext;
