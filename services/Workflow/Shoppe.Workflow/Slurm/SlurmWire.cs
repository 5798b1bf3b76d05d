using System.Text.Json.Serialization;

namespace Shoppe.Workflow.Slurm;

// The JSON slurmrestd's openapi/v0.0.38 plugin reads and writes (Slurm 22.05), only the fields the client uses, named
// as that version's openapi.json names them. Written from the published field names, snake_case on the wire.

/// <summary>What every v0.0.38 answer carries: the errors of the operation (empty when it succeeded).</summary>
internal abstract record SlurmResponse
{
    public List<SlurmErrorWire>? Errors { get; init; }
}

/// <summary>
/// One error. The submit operation names its number <c>error_code</c>; the others <c>error_number</c>, as
/// openapi.json documents.
/// </summary>
internal sealed record SlurmErrorWire
{
    public string? Error { get; init; }

    public int? ErrorNumber { get; init; }

    public int? ErrorCode { get; init; }

    public string? Description { get; init; }

    public string? Source { get; init; }
}

internal sealed record SlurmPingsResponse : SlurmResponse
{
    public List<SlurmPingWire>? Pings { get; init; }
}

internal sealed record SlurmPingWire
{
    public string? Hostname { get; init; }

    /// <summary>UP or DOWN.</summary>
    public string? Ping { get; init; }

    public string? Mode { get; init; }
}

/// <summary>POST /job/submit: the batch script and the job's properties (sbatch's options by their long names).</summary>
internal sealed record SlurmJobSubmission
{
    public required string Script { get; init; }

    public required SlurmJobProperties Job { get; init; }
}

internal sealed record SlurmJobProperties
{
    public required string Name { get; init; }

    public required string CurrentWorkingDirectory { get; init; }

    /// <summary>The job's whole environment: slurmrestd refuses a job without one.</summary>
    public required Dictionary<string, string> Environment { get; init; }

    public int? CpusPerTask { get; init; }

    /// <summary>MB, as sbatch's <c>--mem</c>.</summary>
    public long? MemoryPerNode { get; init; }

    /// <summary>sbatch's <c>--gres</c>, e.g. <c>gpu:2</c>; read back as the job's <c>tres_per_node</c>.</summary>
    public string? Gres { get; init; }

    /// <summary>e.g. <c>afterok:12:13</c>: start only after those jobs succeeded.</summary>
    public string? Dependency { get; init; }

    /// <summary>Minutes.</summary>
    public int? TimeLimit { get; init; }

    public string? StandardOutput { get; init; }

    public string? StandardError { get; init; }
}

internal sealed record SlurmSubmitResponse : SlurmResponse
{
    public long? JobId { get; init; }
}

internal sealed record SlurmJobsResponse : SlurmResponse
{
    public List<SlurmJobWire>? Jobs { get; init; }
}

/// <summary>DELETE /job/{id} answers with its errors only.</summary>
internal sealed record SlurmCancelResponse : SlurmResponse;

internal sealed record SlurmJobWire
{
    public long JobId { get; init; }

    public string? Name { get; init; }

    public string? JobState { get; init; }

    public string? StateReason { get; init; }

    public string? StateDescription { get; init; }

    /// <summary>A wait status, as waitpid gives it (exit code in bits 8-15, signal in bits 0-6).</summary>
    public int? ExitCode { get; init; }

    public string? TresPerNode { get; init; }

    public int? Cpus { get; init; }

    public long? MemoryPerNode { get; init; }

    public int? TimeLimit { get; init; }

    public long? SubmitTime { get; init; }

    public long? StartTime { get; init; }

    public long? EndTime { get; init; }

    public string? UserName { get; init; }

    public string? CurrentWorkingDirectory { get; init; }

    public string? StandardOutput { get; init; }

    public string? StandardError { get; init; }

    public string? Nodes { get; init; }
}

// Numbers may come as strings: openapi.json types several integer fields as strings, and the plugin writes some
// of them either way.
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    NumberHandling = JsonNumberHandling.AllowReadingFromString)]
[JsonSerializable(typeof(SlurmPingsResponse))]
[JsonSerializable(typeof(SlurmJobSubmission))]
[JsonSerializable(typeof(SlurmSubmitResponse))]
[JsonSerializable(typeof(SlurmJobsResponse))]
[JsonSerializable(typeof(SlurmCancelResponse))]
internal sealed partial class SlurmJsonContext : JsonSerializerContext;
