using System.Text.Json;
using System.Text.Json.Serialization;

namespace Shoppe.Delivery.Transforms;

/// <summary>
/// <c>POST /v1/transforms</c>: which files, which columns, which events, and where the output goes.
/// <see cref="Dataset"/> is either a list of file locations or the name of a dataset the facility configures.
/// </summary>
public sealed record TransformRequest
{
    /// <summary>A dataset name (string) or a list of file URLs/paths (array).</summary>
    public JsonElement Dataset { get; init; }

    public IReadOnlyList<string>? Columns { get; init; }

    public string? Filter { get; init; }

    public TransformOutput? Output { get; init; }

    /// <summary>A title for people (the portal shows it); optional.</summary>
    public string? Title { get; init; }
}

public sealed record TransformOutput
{
    /// <summary><c>parquet</c> (default) or <c>arrow</c>.</summary>
    public string? Format { get; init; }

    /// <summary>A POSIX directory under one of the configured destinations; by default the service's own output folder.</summary>
    public string? Destination { get; init; }
}

/// <summary>The states of a transform, as they are stored and shown.</summary>
public static class TransformStates
{
    public const string Submitted = "submitted";
    public const string Running = "running";
    public const string Complete = "complete";

    /// <summary>Finished, and some files failed after their retries.</summary>
    public const string Partial = "partial";

    /// <summary>Finished, and every file failed.</summary>
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";

    public static bool IsFinished(string state) => state is Complete or Partial or Failed or Cancelled;
}

public static class FileStates
{
    public const string Pending = "pending";
    public const string Running = "running";
    public const string Done = "done";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";
}

/// <summary>A transform as stored: what was asked, by whom, and where its outputs go.</summary>
public sealed record TransformRecord(
    string RequestId,
    string Owner,
    string State,
    string? Title,
    string DatasetText,
    IReadOnlyList<string> Columns,
    string? Filter,
    string Format,
    string OutputDirectory,
    int FilesTotal,
    DateTimeOffset Submitted,
    DateTimeOffset? Started,
    DateTimeOffset? Finished);

/// <summary>One input file of a transform and what became of it.</summary>
public sealed record TransformFile(
    int Index,
    string Input,
    string State,
    int Attempts,
    string? Error,
    long EventsIn,
    long EventsOut,
    long BytesIn,
    long BytesOut,
    string? Output,
    DateTimeOffset? Started,
    DateTimeOffset? Finished,
    string? Worker = null);

/// <summary><c>GET /v1/transforms/{id}</c>.</summary>
public sealed record TransformStatus(
    string RequestId,
    string Owner,
    string State,
    string? Title,
    string Dataset,
    IReadOnlyList<string> Columns,
    string? Filter,
    string Format,
    string Destination,
    int FilesTotal,
    int FilesDone,
    int FilesFailed,
    int FilesRemaining,
    long EventsIn,
    long EventsOut,
    long BytesIn,
    long BytesOut,
    DateTimeOffset Submitted,
    DateTimeOffset? Started,
    DateTimeOffset? Finished,
    double? ElapsedSeconds,
    IReadOnlyList<string> Errors,
    string Logs);

/// <summary>One row of <c>GET /v1/transforms/{id}/files</c>; <c>Worker</c> names the pilot or instance running it now.</summary>
public sealed record TransformFileStatus(
    int Index,
    string Input,
    string State,
    int Attempts,
    string? Error,
    long EventsIn,
    long EventsOut,
    long BytesIn,
    long BytesOut,
    string? Output,
    string? Url,
    double? Seconds,
    string? Worker = null);

public sealed record TransformCreated(string RequestId, string State, int FilesTotal, string Status, string Logs);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(TransformRequest))]
[JsonSerializable(typeof(TransformStatus))]
[JsonSerializable(typeof(TransformFileStatus[]))]
[JsonSerializable(typeof(TransformStatus[]))]
[JsonSerializable(typeof(TransformCreated))]
[JsonSerializable(typeof(string[]))]
public sealed partial class DeliveryJsonContext : JsonSerializerContext;
