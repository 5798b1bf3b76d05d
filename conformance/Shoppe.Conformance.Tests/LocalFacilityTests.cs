using System.Xml.Linq;

namespace Shoppe.Conformance.Tests;

/// <summary>
/// The suite against a real facility: every service started from this build's output as local processes, wired
/// as the AppHost wires them; then the same facility reached as a site's deployment by URL and token.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class LocalFacilityTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string StackVersion => File.ReadAllText(Path.Combine(Repository.Root, "VERSION")).Trim();

    [Fact]
    public async Task LocalFacility_PassesEveryCheck_AndGatesReportRatiosOnTheDetectedProfile()
    {
        var run = Directory.CreateTempSubdirectory("shoppe-conformance-").FullName;
        var progress = new Progress<string>(line => TestContext.Current.TestOutputHelper?.WriteLine(line));
        try
        {
            var expected = new ExpectedRelease(StackVersion, null,
                FacilityComponents.Services.ToDictionary(c => c.Name, _ => StackVersion, StringComparer.Ordinal));
            var gates = GateSet.Load(Path.Combine(Repository.Root, "conformance", "gates.json")) with { SampleMiB = 64 };
            ConformanceReport report;
            await using (var facility = LocalProcessEnvironment.FromBuild(Repository.Root, "Release", Path.Combine(run, "local")))
            {
                report = await ConformanceRun.RunAsync(facility, expected, gates, Path.Combine(run, "scratch"), progress, Ct);

                // The same facility as a site sees it: URLs and one token, no origin folder of its own.
                var token = facility.Token("site-admin", "storage.read:/conformance storage.create:/conformance storage.modify:/conformance");
                await using var site = new DeploymentEnvironment(facility.Services["portal"], facility.Services, token)
                {
                    CacheProbePath = "/nanoaod/" + Path.GetFileName(Directory.GetFiles(Path.Combine(Repository.Root, "conformance", "data", "nanoaod"), "*.parquet")[0]),
                };
                var siteReport = await ConformanceRun.RunAsync(site, expected, gates, Path.Combine(run, "scratch"), progress, Ct, runGates: false);
                var siteFailures = siteReport.Checks.Where(c => c.Outcome == Outcome.Failed).Select(c => $"{c.Suite}: {c.Name}: {c.Message}");
                Assert.True(siteReport.Summary.Failed == 0, string.Join("\n", siteFailures));
                Assert.Contains(siteReport.Checks, c => c.Name.StartsWith("scopes", StringComparison.Ordinal) && c.Outcome == Outcome.NotApplicable);
                Assert.Equal(facility.Services["portal"].GetLeftPart(UriPartial.Authority), siteReport.Target);
            }

            var failures = report.Checks.Where(c => c.Outcome == Outcome.Failed && c.Suite != "gates").Select(c => $"{c.Suite}: {c.Name}: {c.Message}");
            Assert.True(!failures.Any(), string.Join("\n", failures));
            foreach (var suite in new[] { "health", "version", "security", "contract.cache", "contract.transfer", "contract.delivery", "contract.logs", "contract.workflow", "contract.portal", "end-to-end" })
            {
                Assert.Contains(report.Checks, c => c.Suite == suite && c.Outcome == Outcome.Passed);
            }

            Assert.Equal(7, report.Checks.Count(c => c.Suite == "version" && c.Outcome == Outcome.Passed));
            Assert.Equal(3, report.Checks.Count(c => c.Suite == "contract.portal" && c.Outcome == Outcome.Passed));
            Assert.Contains(report.Checks, c => c.Suite == "end-to-end" && c.Name.StartsWith("a workflow", StringComparison.Ordinal) && c.Outcome == Outcome.Passed);

            // Gates: a measured figure over a limit of this machine, compared with the threshold; NVMe gates apply only on NVMe.
            Assert.NotNull(report.Limits);
            Assert.All(new[] { report.Limits.DiskReadMiBs, report.Limits.DiskWriteMiBs, report.Limits.MemoryCopyMiBs, report.Limits.LoopbackMiBs }, v => Assert.True(v > 0));
            foreach (var gate in report.Checks.Where(c => c.Suite == "gates"))
            {
                if (gate.Outcome == Outcome.NotApplicable)
                {
                    Assert.False(string.IsNullOrEmpty(gate.Message));
                    continue;
                }

                Assert.True(gate.Measured > 0 && gate.Limit > 0, $"{gate.Name}: {gate.Message}");
                Assert.Equal(gate.Measured!.Value / gate.Limit!.Value, gate.Ratio!.Value, 6);
                Assert.Equal(gate.Ratio >= gate.Threshold ? Outcome.Passed : Outcome.Failed, gate.Outcome);
            }

            var nvme = report.Checks.Single(c => c.Name == "cache.warm-read-nvme");
            if (report.Profile.DataOnNvme)
            {
                Assert.NotEqual(Outcome.NotApplicable, nvme.Outcome);
            }
            else
            {
                Assert.Equal(Outcome.NotApplicable, nvme.Outcome);
                Assert.Contains("needs the data folder on NVMe", nvme.Message, StringComparison.Ordinal);
            }

            // Reports: JUnit XML with not-applicable as skipped, and the JSON summary read back.
            report.Write(Path.Combine(run, "results"));
            var junit = XDocument.Load(Path.Combine(run, "results", "junit.xml"));
            Assert.Equal(report.Checks.Count, junit.Descendants("testcase").Count());
            Assert.Equal(report.Summary.NotApplicable, junit.Descendants("skipped").Count());
            Assert.Equal(report.Summary.Failed, junit.Descendants("failure").Count());
            var back = ConformanceReport.Read(Path.Combine(run, "results", "summary.json"));
            Assert.Equal(report.Summary, back.Summary);
            Assert.Equal(report.Profile.Cores, back.Profile.Cores);
        }
        finally
        {
            await TestFolders.DeleteAsync(run);
        }
    }
}
