using System.Text.Json;
using System.Text.Json.Serialization;

namespace Shoppe.Security;

/// <summary>
/// The one-machine facility's discovery file. The AppHost writes it once every service is up, naming its data root,
/// its signing key and its services' URLs; the <c>shoppe</c> CLI reads it when no option or environment variable says
/// where the key or a service is, so a facility started with <c>--Shoppe:DataRoot=…</c> is found without being told.
/// It stays after the facility stops (its key is the one a restart with the same data root uses); the next facility
/// started replaces it.
/// </summary>
/// <param name="DataRoot">The folder each service keeps its state under.</param>
/// <param name="SigningKeyFile">The local signing key every service of the facility validates tokens with.</param>
/// <param name="Services">Each service's base URL, by name (<c>logs</c>, <c>transfer</c>, …).</param>
/// <param name="StartedAt">When the facility was up.</param>
public sealed record LocalFacility(string DataRoot, string SigningKeyFile, IReadOnlyDictionary<string, string> Services, DateTimeOffset StartedAt)
{
    /// <summary>The environment variable that moves the file (a second facility, tests): both the AppHost and the CLI read it.</summary>
    public const string FileVariable = "SHOPPE_FACILITY_FILE";

    /// <summary>The fixed per-user place: <c>~/.local/share/coffea-shoppe/facility.json</c> (under <c>$XDG_DATA_HOME</c> when set).</summary>
    public static string DefaultFile => Path.Combine(
        Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.DoNotVerify),
        "coffea-shoppe", "facility.json");

    /// <summary>The file in effect: <paramref name="configured"/> when set, else <see cref="DefaultFile"/>.</summary>
    public static string ResolveFile(string? configured) =>
        string.IsNullOrWhiteSpace(configured) ? DefaultFile : Path.GetFullPath(configured.Trim());

    /// <summary>Reads the file at <paramref name="path"/>: null when there is none.</summary>
    /// <exception cref="InvalidOperationException">The file is there but is not a facility file.</exception>
    public static LocalFacility? Read(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize(bytes, LocalFacilityJsonContext.Default.LocalFacility)
                   ?? throw new InvalidOperationException($"The facility file {path} holds no facility.");
        }
        catch (JsonException ex)
        {
            throw new InvalidOperationException($"The facility file {path} is not valid: {ex.Message}", ex);
        }
    }

    /// <summary>Writes this facility to <paramref name="path"/> (mode 0600), replacing what is there in one rename.</summary>
    public void Write(string path) =>
        PrivateFile.WriteAtomically(path, JsonSerializer.Serialize(this, LocalFacilityJsonContext.Default.LocalFacility), overwrite: true);
}

/// <summary>The facility file's JSON: camelCase, indented for a reader, every field required.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = true, RespectNullableAnnotations = true, RespectRequiredConstructorParameters = true)]
[JsonSerializable(typeof(LocalFacility))]
internal sealed partial class LocalFacilityJsonContext : JsonSerializerContext;
