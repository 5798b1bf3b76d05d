using System.Text.Json;
using System.Text.Json.Serialization;
using Shoppe.Columnar.Io;

namespace Shoppe.Delivery.Tasks;

/// <summary>
/// One input file of a transform, as the delivery service hands it to a worker: what to read and how, what to make
/// of it, and under which lease. A pilot receives it as the spec of a <c>delivery.file</c> task.
/// </summary>
/// <param name="RequestId">The transform's request id (every log line of the file carries it).</param>
/// <param name="Index">The file's index in the transform (0-based).</param>
/// <param name="Attempt">The attempt the lease names; a result for another attempt is refused.</param>
/// <param name="Input">The resolved location: an http(s) URL or an absolute local path.</param>
/// <param name="Access">How to read <see cref="Input"/>.</param>
/// <param name="Columns">The output columns (names or expressions).</param>
/// <param name="Filter">The event selection, or null.</param>
/// <param name="Format"><c>parquet</c> or <c>arrow</c>.</param>
/// <param name="OutputName">The output file's name in the transform's output folder.</param>
/// <param name="MayReuse">An earlier output of this input exists: ask whether it answers this query (else do not ask).</param>
public sealed record FileTaskSpec(
    string RequestId,
    int Index,
    int Attempt,
    string Input,
    InputAccess Access,
    IReadOnlyList<string> Columns,
    string? Filter,
    string Format,
    string OutputName,
    bool MayReuse = true)
{
    /// <summary>The pilot job id of a transform's file: <c>{request id}/{index}</c> (request ids have no <c>/</c>).</summary>
    [JsonIgnore]
    public string JobId => JobIdOf(RequestId, Index);

    /// <summary>The output format.</summary>
    [JsonIgnore]
    public OutputFormat OutputFormat => Format == "arrow" ? OutputFormat.Arrow : OutputFormat.Parquet;

    /// <summary>The pilot job id of file <paramref name="index"/> of <paramref name="requestId"/>.</summary>
    /// <param name="requestId">The transform.</param>
    /// <param name="index">The file.</param>
    /// <returns><c>{request id}/{index}</c>.</returns>
    public static string JobIdOf(string requestId, int index) => $"{requestId}/{index.ToString(System.Globalization.CultureInfo.InvariantCulture)}";

    /// <summary>Splits a job id made by <see cref="JobIdOf"/>; false for anything else.</summary>
    /// <param name="jobId">The id.</param>
    /// <param name="requestId">The transform.</param>
    /// <param name="index">The file.</param>
    /// <returns>Whether it was one.</returns>
    public static bool TryParseJobId(string jobId, out string requestId, out int index)
    {
        ArgumentNullException.ThrowIfNull(jobId);
        var slash = jobId.LastIndexOf('/');
        requestId = slash > 0 ? jobId[..slash] : "";
        index = -1;
        return slash > 0 && int.TryParse(jobId.AsSpan(slash + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out index);
    }
}

/// <summary>How a worker reads a file.</summary>
/// <param name="Facility">The facility's own storage (its cache or a dataset the operator named): read whatever the user policy says.</param>
/// <param name="CacheToken">The bearer token for the facility's cache, when the file is on it (the service's own: users' never leave it).</param>
/// <param name="CachePath">The file's path under the cache, when it is on it: a pilot with a cache of its own nearer to it reads there.</param>
/// <param name="AllowedRemotes">For a user's URL: <c>Delivery:AllowedRemotes</c>, judged by the worker on every connection.</param>
/// <param name="PublicOnly">For a user's URL with no list: public addresses only.</param>
/// <param name="Pushdown">The pushdown node that transforms the file (its base URL), when the input is <c>pushdown:/path</c>.</param>
/// <param name="PushdownToken">The bearer token for that node (the service's own; a pilot uses its own).</param>
public sealed record InputAccess(bool Facility, string? CacheToken = null, string? CachePath = null, IReadOnlyList<string>? AllowedRemotes = null, bool PublicOnly = true, string? Pushdown = null, string? PushdownToken = null);

/// <summary>What a committed file came to (the pilot's upload reports it; the service records it).</summary>
/// <param name="EventsIn">Events read.</param>
/// <param name="EventsOut">Events written.</param>
/// <param name="BytesIn">Bytes read from the input.</param>
/// <param name="Seconds">How long the transform took.</param>
/// <param name="Identity">The input's version (size and ETag or time), for reusing the output later; null when unknown.</param>
public sealed record FileCommit(long EventsIn, long EventsOut, long BytesIn, double Seconds, string? Identity);

/// <summary>The service's answer to a reuse question: the earlier output is in place, with these figures.</summary>
/// <param name="EventsIn">Events the earlier output read.</param>
/// <param name="EventsOut">Events it holds.</param>
/// <param name="BytesOut">Its size.</param>
public sealed record FileReused(long EventsIn, long EventsOut, long BytesOut);

/// <summary>The file tasks' JSON: camelCase, source-generated.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(FileTaskSpec))]
[JsonSerializable(typeof(FileCommit))]
[JsonSerializable(typeof(FileReused))]
public sealed partial class FileTaskJsonContext : JsonSerializerContext;
