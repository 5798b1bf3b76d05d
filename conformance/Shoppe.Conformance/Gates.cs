using System.Text.Json;

namespace Shoppe.Conformance;

/// <summary>One performance gate from conformance/gates.json.</summary>
/// <param name="Id">Its name in results (<c>cache.warm-read</c>).</param>
/// <param name="Measure">The measurement it gates (<c>cache-cold-read</c>, <c>cache-warm-read</c>, <c>transfer-pull</c>).</param>
/// <param name="Limit">The hardware limit it is a ratio of (<see cref="HardwareLimits.Named"/>).</param>
/// <param name="MinRatio">The least measured/limit that passes.</param>
/// <param name="Requires">Hardware it needs: <c>nvme</c> (the data folder on an NVMe device), <c>gpu</c>.</param>
/// <param name="Why">Why the threshold is what it is.</param>
public sealed record Gate(string Id, string Measure, string Limit, double MinRatio, IReadOnlyList<string> Requires, string? Why)
{
    /// <summary>Why the gate cannot run on <paramref name="profile"/>, or null when it can.</summary>
    public string? MissingHardware(HardwareProfile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        foreach (var need in Requires)
        {
            switch (need)
            {
                case "nvme" when !profile.DataOnNvme:
                    return $"needs the data folder on NVMe; it is on {profile.DataDisk ?? "an unknown device"} ({profile.DataDiskKind ?? "unknown"})";
                case "gpu" when profile.Gpus.Count == 0:
                    return "needs a GPU; nvidia-smi found none";
                case not ("nvme" or "gpu"):
                    return $"needs '{need}', which this suite does not know";
            }
        }

        return null;
    }
}

/// <summary>The versioned gate thresholds (conformance/gates.json).</summary>
public sealed record GateSet(int Version, int SampleMiB, IReadOnlyList<Gate> Gates)
{
    /// <summary>The measurements the suite can make.</summary>
    public static readonly IReadOnlyList<string> Measures = ["cache-cold-read", "cache-warm-read", "transfer-pull"];

    /// <summary>The hardware a gate may require.</summary>
    public static readonly IReadOnlyList<string> Hardware = ["nvme", "gpu"];

    /// <summary>The SHA-256 of the file the gates came from (certifications record it beside the version).</summary>
    public string Sha256 { get; init; } = "";

    private static readonly JsonSerializerOptions ReadOptions = new(JsonSerializerDefaults.Web);

    /// <summary>The gates file shipped beside the suite.</summary>
    public static string DefaultPath => Path.Combine(AppContext.BaseDirectory, "gates.json");

    /// <summary>Reads and checks a gates file.</summary>
    public static GateSet Load(string path)
    {
        GateSet? set;
        try
        {
            var bytes = File.ReadAllBytes(path);
            set = JsonSerializer.Deserialize<GateSet>(bytes, ReadOptions);
            set = set is null ? null : set with { Sha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes)) };
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{path} is not a gates file: {ex.Message}", ex);
        }

        if (set is null || set.Version < 1 || set.SampleMiB is < 16 or > 16384 || set.Gates is null || set.Gates.Count == 0)
        {
            throw new InvalidDataException($"{path} needs a version, a sampleMiB between 16 and 16384 and at least one gate.");
        }

        var limits = new HardwareLimits(1, 1, 1, 1, 0);
        foreach (var gate in set.Gates)
        {
            if (string.IsNullOrWhiteSpace(gate.Id) || gate.MinRatio is <= 0 or > 100 || gate.Requires is null)
            {
                throw new InvalidDataException($"{path}: gate '{gate.Id}' needs an id, requires, and a minRatio above 0.");
            }

            // A misspelt measure or requirement would make the gate "not applicable" for ever: refused instead.
            if (!Measures.Contains(gate.Measure))
            {
                throw new InvalidDataException($"{path}: gate '{gate.Id}' measures '{gate.Measure}', which the suite does not know ({string.Join(", ", Measures)}).");
            }

            if (gate.Requires.FirstOrDefault(r => !Hardware.Contains(r)) is { } unknown)
            {
                throw new InvalidDataException($"{path}: gate '{gate.Id}' requires '{unknown}', which the suite does not know ({string.Join(", ", Hardware)}).");
            }

            try
            {
                limits.Named(gate.Limit);
            }
            catch (ArgumentException ex)
            {
                throw new InvalidDataException($"{path}: gate '{gate.Id}': {ex.Message}", ex);
            }
        }

        return set;
    }
}
