using System.Text.Json;
using System.Text.Json.Serialization;

namespace Shoppe.Pushdown.Client;

/// <summary>
/// A scan (docs/pushdown.md): columns of a dataset, filtered, in the selection language with exactly delivery's
/// meaning, optionally joined with datasets of extra columns aligned row by row on (run, luminosityBlock, event).
/// </summary>
/// <param name="Dataset">A dataset the node names (<c>"nanoaod-samples"</c>), or a list of files or folders under its storage roots.</param>
/// <param name="Columns">The output columns (<c>expr</c> or <c>name = expr</c>).</param>
/// <param name="Filter">The event filter; null keeps every event.</param>
/// <param name="Join">Datasets of extra columns, each paired file by file (in name order) with <paramref name="Dataset"/>.</param>
public sealed record ScanRequest(JsonElement Dataset, IReadOnlyList<string>? Columns, string? Filter = null, IReadOnlyList<JsonElement>? Join = null)
{
    /// <summary>A scan of a named dataset.</summary>
    public static ScanRequest Of(string dataset, IReadOnlyList<string> columns, string? filter = null, params string[] join) =>
        new(JsonSerializer.SerializeToElement(dataset, PushdownJsonContext.Default.String), columns, filter,
            join.Length == 0 ? null : [.. join.Select(j => JsonSerializer.SerializeToElement(j, PushdownJsonContext.Default.String))]);

    /// <summary>The request as JSON (a Flight command descriptor's body, a <c>POST /v1/scans</c> body).</summary>
    public byte[] ToJson() => JsonSerializer.SerializeToUtf8Bytes(this, PushdownJsonContext.Default.ScanRequest);
}

/// <summary>A scan's progress and outcome (<c>GET /v1/scans/{id}</c>).</summary>
/// <param name="Id">The scan's request id.</param>
/// <param name="Owner">Who asked for it.</param>
/// <param name="State">running, finished or failed.</param>
/// <param name="Dataset">What it reads.</param>
/// <param name="Files">Files in the plan.</param>
/// <param name="RowGroups">Row groups in the files.</param>
/// <param name="RowGroupsPruned">Row groups the filter's bounds ruled out without reading them.</param>
/// <param name="RowGroupsSkipped">Row groups read for the filter's columns only, where no event passed.</param>
/// <param name="EventsScanned">Events read so far.</param>
/// <param name="EventsPassed">Events that passed the filter so far.</param>
/// <param name="Batches">Record batches sent.</param>
/// <param name="BytesRead">Compressed bytes of the column chunks read.</param>
/// <param name="FirstBatchMilliseconds">From the request to the first batch; null before it.</param>
/// <param name="Started">When the scan began.</param>
/// <param name="Finished">When it ended; null while running.</param>
/// <param name="Error">Why it failed.</param>
public sealed record ScanStatus(
    string Id, string Owner, string State, string Dataset, int Files, long RowGroups, long RowGroupsPruned, long RowGroupsSkipped,
    long EventsScanned, long EventsPassed, long Batches, long BytesRead, double? FirstBatchMilliseconds, DateTimeOffset Started, DateTimeOffset? Finished, string? Error);

/// <summary>A scan planned but not run (<c>POST /v1/scans/plan</c>): what it would give and read.</summary>
/// <param name="Columns">The output columns and their Arrow types.</param>
/// <param name="Files">Files in the plan.</param>
/// <param name="Ranges">Ranges (Flight endpoints) the kept row groups make.</param>
/// <param name="RowGroups">Row groups in the files.</param>
/// <param name="RowGroupsPruned">Row groups the filter's bounds rule out.</param>
/// <param name="EventsToScan">Events in the kept row groups.</param>
/// <param name="BytesToRead">Compressed bytes of the column chunks to read.</param>
public sealed record ScanPlanInfo(IReadOnlyList<ScanColumn> Columns, int Files, int Ranges, long RowGroups, long RowGroupsPruned, long EventsToScan, long BytesToRead);

/// <summary>An output column of a scan.</summary>
/// <param name="Name">Its name.</param>
/// <param name="Type">Its Arrow type (<c>float</c>, <c>large_list&lt;float&gt;</c>...).</param>
public sealed record ScanColumn(string Name, string Type);

/// <summary>A dataset a pushdown node serves (<c>GET /v1/datasets</c>).</summary>
/// <param name="Name">Its name.</param>
/// <param name="Files">Its files, relative to the storage root they are under.</param>
/// <param name="Events">Events in all its files.</param>
/// <param name="Bytes">Size of all its files.</param>
public sealed record DatasetInfo(string Name, IReadOnlyList<DatasetFileInfo> Files, long Events, long Bytes);

/// <summary>One file of a dataset.</summary>
/// <param name="Path">Its path under its storage root (<c>/nanoaod/nano_dy.parquet</c>).</param>
/// <param name="Events">Its events.</param>
/// <param name="RowGroups">Its row groups.</param>
/// <param name="Bytes">Its size.</param>
public sealed record DatasetFileInfo(string Path, long Events, int RowGroups, long Bytes);

/// <summary>Source-generated JSON for the pushdown API (camelCase, as every Shoppe API).</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ScanRequest))]
[JsonSerializable(typeof(ScanStatus))]
[JsonSerializable(typeof(IReadOnlyList<ScanStatus>))]
[JsonSerializable(typeof(ScanPlanInfo))]
[JsonSerializable(typeof(DatasetInfo))]
[JsonSerializable(typeof(IReadOnlyList<DatasetInfo>))]
[JsonSerializable(typeof(string))]
[JsonSerializable(typeof(string[]))]
public sealed partial class PushdownJsonContext : JsonSerializerContext;
