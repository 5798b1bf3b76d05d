using System.Text.Json;
using System.Text.Json.Serialization;

namespace Shoppe.Workflow.Documents;

/// <summary>
/// A workflow document's head: everything but its job list (docs/workflow.md, docs/schemas/workflow.schema.json).
/// The head is small and read whole; <c>jobs</c>, which may hold a million entries, comes last and is read as a stream.
/// </summary>
public sealed record WorkflowHead
{
    public string? Name { get; init; }

    /// <summary>Values works refer to as <c>${parameters.NAME}</c>.</summary>
    public Dictionary<string, string>? Parameters { get; init; }

    public List<CollectionSpec>? Collections { get; init; }

    public List<WorkSpec>? Works { get; init; }

    /// <summary>True: the job list comes in parts (<c>POST /v1/workflows/{id}/jobs</c>), then <c>POST …/start</c>.</summary>
    public bool Parts { get; init; }
}

/// <summary>A work: one action, its parameters, and when it runs.</summary>
public sealed record WorkSpec
{
    public string? Name { get; init; }

    /// <summary><c>command</c>, <c>noop</c>, <c>delivery</c>, <c>transfer</c> or <c>workflow</c>.</summary>
    public string? Action { get; init; }

    public CommandSpec? Command { get; init; }

    /// <summary>The delivery service's transform request (its JSON, with <c>${…}</c> references in strings).</summary>
    public JsonElement? Delivery { get; init; }

    public TransferSpec? Transfer { get; init; }

    /// <summary>A sub-workflow: a whole document (its own works and jobs), run as one job of this work.</summary>
    public JsonElement? Workflow { get; init; }

    /// <summary>Works whose every job must end before this work's jobs start (task-level dependencies).</summary>
    public List<string>? After { get; init; }

    /// <summary>Runs only when this holds once the works it names (and <see cref="After"/>) have ended; else skipped.</summary>
    public ConditionSpec? When { get; init; }

    /// <summary>Runs again while a condition holds, at most a bound of times.</summary>
    public LoopSpec? Loop { get; init; }

    /// <summary>A job per file (or per N files) of a collection, made as the files arrive (the data carousel).</summary>
    public ForEachSpec? ForEach { get; init; }

    /// <summary>Attempts a job gets before it fails (1 to 10; default 3).</summary>
    public int? Attempts { get; init; }
}

public sealed record CommandSpec
{
    public List<string>? Argv { get; init; }

    public Dictionary<string, string>? Env { get; init; }

    public string? Workdir { get; init; }

    public int? Cores { get; init; }

    public int? MemoryMb { get; init; }

    public int? Gpus { get; init; }

    /// <summary>Each job as its own batch job (heavy works), rather than on a shared pilot.</summary>
    public bool Batch { get; init; }

    public double? TimeoutSeconds { get; init; }
}

public sealed record TransferSpec
{
    public string? Source { get; init; }

    public string? Destination { get; init; }
}

/// <summary>
/// A condition: exactly one of a leaf (<c>work</c> with <c>is</c>; or <c>output</c> with <c>equals</c>), <c>all</c>,
/// <c>any</c> or <c>not</c>.
/// </summary>
public sealed record ConditionSpec
{
    public string? Work { get; init; }

    /// <summary><c>succeeded</c>, <c>failed</c>, <c>skipped</c> or <c>finished</c> (any end).</summary>
    public string? Is { get; init; }

    /// <summary><c>WORK.KEY</c>: an output of a work (the last job's value when it has several).</summary>
    public string? Output { get; init; }

    public string? EqualTo { get; init; }

    public List<ConditionSpec>? All { get; init; }

    public List<ConditionSpec>? Any { get; init; }

    public ConditionSpec? Not { get; init; }
}

public sealed record LoopSpec
{
    /// <summary>The most times the work runs (2 to 1000).</summary>
    public int Max { get; init; }

    /// <summary>Checked after each run; the work runs again while it holds. It may name the work itself.</summary>
    public ConditionSpec? While { get; init; }
}

public sealed record ForEachSpec
{
    public string? Collection { get; init; }

    public int? FilesPerJob { get; init; }
}

/// <summary>A collection: where a work's input files arrive (a list that grows through the API, or a watched folder).</summary>
public sealed record CollectionSpec
{
    public string? Name { get; init; }

    /// <summary>Files known at submission.</summary>
    public List<string>? Files { get; init; }

    /// <summary>A folder watched for files that arrive (on the facility's storage); files named <c>*.part</c> or starting with <c>.</c> are not yet there.</summary>
    public string? Folder { get; init; }

    /// <summary>The input closes this many seconds after submission if not closed before.</summary>
    public double? CloseAfterSeconds { get; init; }

    /// <summary>Closed at once: the files listed are all there will be.</summary>
    public bool Closed { get; init; }

    /// <summary>Stage-in: each file is first copied from here by the transfer service (<c>SOURCE/NAME</c> → the folder).</summary>
    public string? StageFrom { get; init; }
}

/// <summary>One job of the explicit job-level DAG.</summary>
public sealed record JobSpec
{
    public string? Name { get; init; }

    public string? Work { get; init; }

    public List<string>? After { get; init; }

    /// <summary>Values the work refers to as <c>${args.NAME}</c>.</summary>
    public Dictionary<string, string>? Args { get; init; }
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    Converters = [typeof(ScalarStringConverter)], ReadCommentHandling = JsonCommentHandling.Skip)]
[JsonSerializable(typeof(WorkflowHead))]
[JsonSerializable(typeof(string))]
[JsonSerializable(typeof(bool))]
[JsonSerializable(typeof(JobSpec))]
[JsonSerializable(typeof(List<WorkSpec>))]
[JsonSerializable(typeof(List<CollectionSpec>))]
[JsonSerializable(typeof(Dictionary<string, string>))]
[JsonSerializable(typeof(List<string>))]
internal sealed partial class DocumentJsonContext : JsonSerializerContext;

/// <summary>
/// Strings that may be written as numbers or booleans (<c>cut: 20</c> in YAML, <c>"cut": 20</c> in JSON): parameters,
/// arguments and environment values are text, whatever the document's author typed.
/// </summary>
internal sealed class ScalarStringConverter : JsonConverter<string>
{
    public override string? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.TokenType switch
    {
        JsonTokenType.String => reader.GetString(),
        JsonTokenType.Number => System.Text.Encoding.UTF8.GetString(reader.ValueSpan),
        JsonTokenType.True => "true",
        JsonTokenType.False => "false",
        JsonTokenType.Null => null,
        _ => throw new JsonException($"Expected a string, found {reader.TokenType}."),
    };

    public override void Write(Utf8JsonWriter writer, string value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStringValue(value);
    }

    public override string ReadAsPropertyName(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.GetString()!;

    public override void WriteAsPropertyName(Utf8JsonWriter writer, string value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WritePropertyName(value);
    }
}
