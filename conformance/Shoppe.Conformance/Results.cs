using System.Text.Json.Serialization;

namespace Shoppe.Conformance;

/// <summary>How a check ended.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<Outcome>))]
public enum Outcome
{
    /// <summary>It ran and held.</summary>
    Passed,

    /// <summary>It ran and did not hold.</summary>
    Failed,

    /// <summary>It could not run here (no Docker, no GPU, no NVMe, nothing to probe): never counted as passed.</summary>
    NotApplicable,
}

/// <summary>One check's or gate's result.</summary>
/// <param name="Suite">The suite: <c>version</c>, <c>health</c>, <c>contract.cache</c>, <c>end-to-end</c>, <c>gates</c>, …</param>
/// <param name="Name">What was checked.</param>
/// <param name="Outcome">How it ended.</param>
/// <param name="Message">Why it failed or does not apply, or what it measured.</param>
/// <param name="Seconds">How long it took.</param>
/// <param name="Measured">For a gate: the measured figure.</param>
/// <param name="Limit">For a gate: the hardware limit it is a ratio of.</param>
/// <param name="Ratio">For a gate: measured / limit.</param>
/// <param name="Threshold">For a gate: the least ratio that passes.</param>
public sealed record CheckResult(string Suite, string Name, Outcome Outcome, string? Message, double Seconds,
    double? Measured = null, double? Limit = null, double? Ratio = null, double? Threshold = null);

/// <summary>Counts of a run's results.</summary>
public sealed record ResultSummary(int Passed, int Failed, int NotApplicable)
{
    /// <summary>Counts <paramref name="results"/>.</summary>
    public static ResultSummary Of(IEnumerable<CheckResult> results)
    {
        var list = results.ToList();
        return new ResultSummary(list.Count(r => r.Outcome == Outcome.Passed), list.Count(r => r.Outcome == Outcome.Failed),
            list.Count(r => r.Outcome == Outcome.NotApplicable));
    }

    /// <summary>Whether the run certifies: nothing failed and something passed.</summary>
    public bool Certifies => Failed == 0 && Passed > 0;
}
