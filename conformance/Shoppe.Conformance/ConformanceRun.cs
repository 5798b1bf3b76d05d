using System.Globalization;
using System.Runtime.Versioning;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Xml.Linq;

namespace Shoppe.Conformance;

/// <summary>A whole run: where, on what hardware, the limits measured, and every check and gate.</summary>
public sealed record ConformanceReport(string Target, DateTimeOffset At, HardwareProfile Profile, HardwareLimits? Limits,
    int GatesVersion, string GatesSha256, ResultSummary Summary, IReadOnlyList<CheckResult> Checks)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    /// <summary>Whether the run certifies (nothing failed, something passed).</summary>
    public bool Certifies => Summary.Certifies;

    /// <summary>Writes <c>summary.json</c> and <c>junit.xml</c> into <paramref name="folder"/>.</summary>
    public void Write(string folder)
    {
        Directory.CreateDirectory(folder);
        File.WriteAllBytes(Path.Combine(folder, "summary.json"), JsonSerializer.SerializeToUtf8Bytes(this, Json));
        ToJUnit().Save(Path.Combine(folder, "junit.xml"));
    }

    /// <summary>Reads a <c>summary.json</c>.</summary>
    public static ConformanceReport Read(string file) =>
        JsonSerializer.Deserialize<ConformanceReport>(File.ReadAllBytes(file), Json) ?? throw new InvalidDataException($"{file} is empty.");

    /// <summary>JUnit XML: a test suite per suite name, "not applicable" as skipped with its reason.</summary>
    public XDocument ToJUnit()
    {
        static string Seconds(double s) => s.ToString("F3", CultureInfo.InvariantCulture);
        var suites = new XElement("testsuites",
            new XAttribute("name", $"Coffea Shoppe conformance ({Target})"),
            new XAttribute("tests", Checks.Count),
            new XAttribute("failures", Summary.Failed),
            new XAttribute("skipped", Summary.NotApplicable),
            new XAttribute("time", Seconds(Checks.Sum(c => c.Seconds))),
            new XAttribute("timestamp", At.ToString("yyyy-MM-ddTHH:mm:ss", CultureInfo.InvariantCulture)));
        foreach (var group in Checks.GroupBy(c => c.Suite))
        {
            var suite = new XElement("testsuite",
                new XAttribute("name", group.Key),
                new XAttribute("tests", group.Count()),
                new XAttribute("failures", group.Count(c => c.Outcome == Outcome.Failed)),
                new XAttribute("skipped", group.Count(c => c.Outcome == Outcome.NotApplicable)),
                new XAttribute("time", Seconds(group.Sum(c => c.Seconds))),
                new XElement("properties",
                    new XElement("property", new XAttribute("name", "target"), new XAttribute("value", Target)),
                    new XElement("property", new XAttribute("name", "profile"), new XAttribute("value", Profile.Describe()))));
            foreach (var check in group)
            {
                var testCase = new XElement("testcase", new XAttribute("classname", $"conformance.{check.Suite}"), new XAttribute("name", check.Name),
                    new XAttribute("time", Seconds(check.Seconds)));
                switch (check.Outcome)
                {
                    case Outcome.Failed:
                        testCase.Add(new XElement("failure", new XAttribute("message", check.Message ?? "failed"), check.Message));
                        break;
                    case Outcome.NotApplicable:
                        testCase.Add(new XElement("skipped", new XAttribute("message", "not applicable: " + check.Message)));
                        break;
                    default:
                        if (check.Message is not null)
                        {
                            testCase.Add(new XElement("system-out", check.Message));
                        }

                        break;
                }

                suite.Add(testCase);
            }

            suites.Add(suite);
        }

        return new XDocument(new XDeclaration("1.0", "utf-8", null), suites);
    }
}

/// <summary>Runs the suite and the gates against one environment and reports.</summary>
public static class ConformanceRun
{
    /// <summary>
    /// Detects the hardware, starts (or reaches) the facility, runs every check, measures this machine's limits
    /// and runs the gates. An environment that cannot run here makes every check "not applicable" with its reason.
    /// </summary>
    [UnsupportedOSPlatform("windows")]
    public static async Task<ConformanceReport> RunAsync(FacilityEnvironment facility, ExpectedRelease? expected, GateSet gates, string scratchFolder,
        IProgress<string> progress, CancellationToken cancellationToken, bool runGates = true)
    {
        ArgumentNullException.ThrowIfNull(facility);
        ArgumentNullException.ThrowIfNull(gates);
        ArgumentNullException.ThrowIfNull(progress);
        var at = DateTimeOffset.UtcNow;
        var profile = HardwareProfile.Detect(scratchFolder);
        progress.Report($"Hardware: {profile.Describe()}");
        var checks = new List<CheckResult>();
        HardwareLimits? limits = null;
        if (facility.NotApplicableReason is { } reason)
        {
            progress.Report($"The {facility.Target} environment does not apply here: {reason}");
            checks.Add(new CheckResult("environment", facility.Target, Outcome.NotApplicable, reason, 0));
            return new ConformanceReport(facility.Target, at, profile, null, gates.Version, gates.Sha256, ResultSummary.Of(checks), checks);
        }

        try
        {
            await facility.StartAsync(progress, cancellationToken);
        }
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException or IOException or HttpRequestException or System.ComponentModel.Win32Exception)
        {
            checks.Add(new CheckResult("environment", facility.Target, Outcome.Failed, $"the facility did not start: {ex.Message}", 0));
            return new ConformanceReport(facility.Target, at, profile, null, gates.Version, gates.Sha256, ResultSummary.Of(checks), checks);
        }

        using (var suite = new ConformanceSuite(facility, expected, progress))
        {
            checks.AddRange(await suite.RunAsync(cancellationToken));
        }

        if (runGates)
        {
            progress.Report(string.Create(CultureInfo.InvariantCulture, $"Measuring this machine's limits with {gates.SampleMiB} MiB samples"));
            limits = await HardwareLimits.MeasureAsync(scratchFolder, (long)gates.SampleMiB << 20, cancellationToken);
            progress.Report(string.Create(CultureInfo.InvariantCulture,
                $"Limits: disk write {limits.DiskWriteMiBs:F0}, disk read {limits.DiskReadMiBs:F0}, memory copy {limits.MemoryCopyMiBs:F0}, loopback {limits.LoopbackMiBs:F0} MiB/s"));
            using var performance = new PerformanceGates(facility, gates, profile, limits, progress);
            checks.AddRange(await performance.RunAsync(cancellationToken));
        }

        return new ConformanceReport(facility.Target, at, profile, limits, gates.Version, gates.Sha256, ResultSummary.Of(checks), checks);
    }
}
