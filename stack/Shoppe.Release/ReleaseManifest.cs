using System.Text.Json;
using System.Text.Json.Serialization;
using Shoppe.Conformance;

namespace Shoppe.Release;

/// <summary>
/// <c>stack/releases/&lt;version&gt;/manifest.json</c>: what a Coffea Shoppe release is made of, how it was built
/// and what certified it. Its JSON schema is docs/schemas/release-manifest.schema.json.
/// </summary>
public sealed record ReleaseManifest
{
    /// <summary>The schema this manifest follows.</summary>
    public const string SchemaId = "https://coffea-shoppe.org/schemas/release-manifest/1";

    [JsonPropertyName("$schema")]
    public string Schema { get; init; } = SchemaId;

    /// <summary>The stack version, as in VERSION.</summary>
    public required string StackVersion { get; init; }

    /// <summary>The release this one follows, when there is one.</summary>
    public string? PreviousVersion { get; init; }

    /// <summary>The commit the release was built from (40 hex digits).</summary>
    public required string SourceCommit { get; init; }

    /// <summary>When the release was cut (UTC).</summary>
    public required DateTimeOffset CreatedAt { get; init; }

    /// <summary>Every component of the stack.</summary>
    public required IReadOnlyList<ReleaseComponent> Components { get; init; }

    /// <summary>The SDK and the package state the release was built with.</summary>
    public required Toolchain Toolchain { get; init; }

    /// <summary>How the artifacts were built.</summary>
    public required BuildSettings Build { get; init; }

    /// <summary>The Pulumi program (infra/) a site deploys this release with.</summary>
    public required InfraProgram Infra { get; init; }

    /// <summary>Which key signs the manifest (the signature is in manifest.sig beside it).</summary>
    public required SigningInfo Signing { get; init; }

    /// <summary>The latest certification of this release, once one has run.</summary>
    public Certification? Certification { get; init; }
}

/// <summary>One component: a service or the CLI.</summary>
/// <param name="Name">The component's name (<c>cache</c>, <c>delivery</c>, …, <c>cli</c>).</param>
/// <param name="Project">The project it is built from, relative to the repository root.</param>
/// <param name="Version">The component's own version (its assembly's informational version without the commit).</param>
/// <param name="Commit">The source commit stamped into the component.</param>
/// <param name="Artifacts">Its files, each with a SHA-256 digest.</param>
/// <param name="ContainerImage">The digest of the image manifest built from the artifact and certified in containers (what a registry serves it by), where one was.</param>
public sealed record ReleaseComponent(string Name, string Project, string Version, string Commit, IReadOnlyList<ReleaseArtifact> Artifacts, string? ContainerImage);

/// <summary>One artifact file, under the release's <c>artifacts</c> folder.</summary>
public sealed record ReleaseArtifact(string File, long Size, string Sha256);

/// <summary>The .NET SDK and package state.</summary>
/// <param name="Sdk">The SDK version that built the release.</param>
/// <param name="GlobalJsonSha256">The digest of global.json (the SDK and test-runner pins).</param>
/// <param name="CentralPackagesSha256">The digest of Directory.Packages.props (every package version).</param>
/// <param name="Packages">Every package the components resolved, <c>id/version</c>, sorted.</param>
public sealed record Toolchain(string Sdk, string GlobalJsonSha256, string CentralPackagesSha256, IReadOnlyList<string> Packages);

/// <summary>The build settings of the artifacts.</summary>
public sealed record BuildSettings(string Configuration, string RuntimeIdentifier, bool SelfContained, bool Deterministic, bool ContinuousIntegrationBuild, long SourceDateEpoch);

/// <summary>The signing key and algorithm.</summary>
public sealed record SigningInfo(string Algorithm, string KeyId);

/// <summary>A certification run: where, on what, and its results.</summary>
/// <param name="State"><c>certified</c> or <c>failed</c>.</param>
/// <param name="At">When it ran.</param>
/// <param name="Target">The environment: <c>local</c>, <c>containers</c> or the deployment's URL.</param>
/// <param name="Profile">The hardware it ran on.</param>
/// <param name="Limits">The limits measured on that hardware.</param>
/// <param name="Summary">Counts of passed, failed and not applicable checks.</param>
/// <param name="Checks">Every check and gate.</param>
/// <param name="GatesVersion">The version of the gate thresholds file (conformance/gates.json).</param>
/// <param name="GatesSha256">The SHA-256 of that file: a changed threshold shows even where the version was not bumped.</param>
public sealed record Certification(string State, DateTimeOffset At, string Target, HardwareProfile Profile, HardwareLimits? Limits,
    ResultSummary Summary, IReadOnlyList<CheckResult> Checks, int GatesVersion, string GatesSha256);

/// <summary>The manifest's JSON form: camelCase, indented, enums as strings; the same bytes for the same manifest.</summary>
public static class ManifestJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    public static byte[] Serialize(ReleaseManifest manifest) => JsonSerializer.SerializeToUtf8Bytes(manifest, Options);

    /// <summary>Reads a manifest, with the reason when it is not one.</summary>
    public static ReleaseManifest Deserialize(ReadOnlySpan<byte> json)
    {
        try
        {
            return JsonSerializer.Deserialize<ReleaseManifest>(json, Options) ?? throw new ReleaseException("The manifest is empty.");
        }
        catch (JsonException ex)
        {
            throw new ReleaseException($"The manifest is not valid: {ex.Message}");
        }
    }
}

/// <summary>A release step refused or failed, with a message for the release manager.</summary>
public class ReleaseException : Exception
{
    public ReleaseException()
        : base("The release step failed.")
    {
    }

    public ReleaseException(string message)
        : base(message)
    {
    }

    public ReleaseException(string message, Exception inner)
        : base(message, inner)
    {
    }
}

/// <summary>A manifest or an artifact that is not what was signed: verification's refusal.</summary>
public sealed class ReleaseTamperedException : ReleaseException
{
    public ReleaseTamperedException()
        : base("The release was altered after it was signed.")
    {
    }

    public ReleaseTamperedException(string message)
        : base(message)
    {
    }

    public ReleaseTamperedException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
