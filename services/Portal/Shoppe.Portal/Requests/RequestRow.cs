using System.Text.Json;

namespace Shoppe.Portal.Requests;

/// <summary>The kinds of request the portal follows, each the service that holds it.</summary>
public static class RequestKinds
{
    public const string Delivery = "delivery";
    public const string Transfer = "transfer";
    public const string Workflow = "workflow";
    public const string Scan = "scan";

    /// <summary>Every kind, in the order the filters list them.</summary>
    public static readonly IReadOnlyList<string> All = [Delivery, Transfer, Workflow, Scan];

    /// <summary>Whether <paramref name="kind"/> is a kind the portal follows and <paramref name="id"/> a request id.</summary>
    public static bool IsKnown(string kind, string id) => All.Contains(kind) && Shoppe.ServiceDefaults.RequestIds.RequestId.IsValid(id);

    /// <summary>The service that holds a kind, its list path and one request's path.</summary>
    public static (string Service, string List, string One) Paths(string kind) => kind switch
    {
        Delivery => ("delivery", "v1/transforms", "v1/transforms/"),
        Transfer => ("transfer", "v1/transfers", "v1/transfers/"),
        Workflow => ("workflow", "v1/workflows", "v1/workflows/"),
        Scan => ("pushdown", "v1/scans", "v1/scans/"),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "not a kind of request"),
    };
}

/// <summary>One request as "my requests" lists it, whatever service holds it.</summary>
/// <param name="Kind">delivery, transfer, workflow or scan.</param>
/// <param name="Id">The request id (its logs' id too).</param>
/// <param name="Owner">Who submitted it.</param>
/// <param name="State">The service's word for its state.</param>
/// <param name="Title">What it is, in a few words.</param>
/// <param name="Progress">How far it has gone, in the service's units (files, bytes, jobs).</param>
/// <param name="Fraction">How far it has gone from 0 to 1, where that is known.</param>
/// <param name="Submitted">When it was submitted.</param>
/// <param name="Finished">When it ended, if it has.</param>
public sealed record RequestRow(string Kind, string Id, string? Owner, string State, string Title, string Progress, double? Fraction, DateTimeOffset Submitted, DateTimeOffset? Finished)
{
    /// <summary>Whether the request has ended (whatever the outcome).</summary>
    public bool IsFinished => Finished is not null;

    /// <summary>A row from one element of a service's list (or one request's own status).</summary>
    public static RequestRow From(string kind, JsonElement e) => kind switch
    {
        RequestKinds.Delivery => new RequestRow(kind, Text(e, "requestId"), Maybe(e, "owner"), Text(e, "state"),
            Maybe(e, "title") ?? $"{Text(e, "dataset")}: {string.Join(", ", e.GetProperty("columns").EnumerateArray().Select(c => c.GetString()))}",
            $"{Number(e, "filesDone")} of {Number(e, "filesTotal")} files, {Number(e, "eventsOut"):N0} events",
            Number(e, "filesTotal") is > 0 and var total ? (double)(Number(e, "filesDone") + Number(e, "filesFailed")) / total : null,
            Time(e, "submitted")!.Value, Time(e, "finished")),
        RequestKinds.Transfer => new RequestRow(kind, Text(e, "requestId"), Maybe(e, "owner"), Text(e, "state"),
            $"{Text(e, "source")} → {Text(e, "destination")}",
            !Has(e, "size") ? $"{Bytes(Number(e, "bytes"))}" : $"{Bytes(Number(e, "bytes"))} of {Bytes(Number(e, "size"))}",
            Number(e, "size") is > 0 and var size ? Math.Min(1, (double)Number(e, "bytes") / size) : null,
            Time(e, "submitted")!.Value, Time(e, "finished")),
        RequestKinds.Workflow => new RequestRow(kind, Text(e, "id"), Maybe(e, "owner"), Text(e, "state"),
            Maybe(e, "name") ?? "workflow", $"{Number(e, "jobsTotal"):N0} jobs", null,
            Time(e, "submitted")!.Value, Time(e, "finished")),
        RequestKinds.Scan => new RequestRow(kind, Text(e, "id"), Maybe(e, "owner"), Text(e, "state"),
            $"scan of {Text(e, "dataset")}", $"{Number(e, "eventsPassed"):N0} of {Number(e, "eventsScanned"):N0} events passed, {Bytes(Number(e, "bytesRead"))} read", null,
            Time(e, "started")!.Value, Time(e, "finished")),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "not a kind of request"),
    };

    /// <summary>A byte count as people read it.</summary>
    public static string Bytes(long bytes) => bytes switch
    {
        < 1_000 => $"{bytes} B",
        < 1_000_000 => $"{bytes / 1e3:F1} kB",
        < 1_000_000_000 => $"{bytes / 1e6:F1} MB",
        _ => $"{bytes / 1e9:F2} GB",
    };

    private static bool Has(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number;

    private static string Text(JsonElement e, string name) => Maybe(e, name) ?? "";

    private static string? Maybe(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static long Number(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt64() : 0;

    private static DateTimeOffset? Time(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetDateTimeOffset() : null;
}
