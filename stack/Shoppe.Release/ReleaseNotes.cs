using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Shoppe.Release;

/// <summary>A commit as the notes see it.</summary>
public sealed record CommitInfo(string Hash, string Subject);

/// <summary>
/// Release notes from the commit history since the previous release, grouped as features, fixes, performance
/// and other changes, with the docs/performance.md figures that changed.
/// </summary>
public static partial class ReleaseNotes
{
    /// <summary>The groups, in the order the notes show them.</summary>
    public static readonly IReadOnlyList<string> Groups = ["Features", "Fixes", "Performance", "Other changes"];

    /// <summary>Which group a commit belongs to, from its subject.</summary>
    public static string Classify(string subject)
    {
        ArgumentNullException.ThrowIfNull(subject);
        if (OtherPrefix().IsMatch(subject))
        {
            return "Other changes";
        }

        if (PerformanceWords().IsMatch(subject))
        {
            return "Performance";
        }

        return FixWords().IsMatch(subject) ? "Fixes" : "Features";
    }

    /// <summary>Writes the notes.</summary>
    public static string Render(StackVersion version, StackVersion? previous, string commit, DateTimeOffset at, IReadOnlyList<ReleaseComponent> components,
        IReadOnlyList<CommitInfo> commits, IReadOnlyList<(string Section, string Row)> changedFigures)
    {
        ArgumentNullException.ThrowIfNull(components);
        ArgumentNullException.ThrowIfNull(commits);
        ArgumentNullException.ThrowIfNull(changedFigures);
        var text = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        text.AppendLine(inv, $"# Coffea Shoppe {version}");
        text.AppendLine();
        var since = previous is null ? "the first release." : string.Create(inv, $"{commits.Count} commits since {previous}.");
        text.AppendLine(inv, $"Cut on {at.UtcDateTime:yyyy-MM-dd} from commit {commit[..12]}; {since}");
        text.AppendLine();
        text.AppendLine("| component | version | artifact | sha256 |");
        text.AppendLine("|---|---|---|---|");
        foreach (var component in components)
        {
            foreach (var artifact in component.Artifacts)
            {
                text.AppendLine(inv, $"| {component.Name} | {component.Version} | {artifact.File} | `{artifact.Sha256[..16]}…` |");
            }
        }

        foreach (var group in Groups)
        {
            var members = commits.Where(c => Classify(c.Subject) == group).ToList();
            if (members.Count == 0)
            {
                continue;
            }

            text.AppendLine();
            text.AppendLine(inv, $"## {group}");
            text.AppendLine();
            foreach (var commit1 in members)
            {
                text.AppendLine(inv, $"- {commit1.Subject} ({commit1.Hash[..7]})");
            }
        }

        text.AppendLine();
        text.AppendLine("## Performance figures that changed");
        text.AppendLine();
        if (changedFigures.Count == 0)
        {
            text.AppendLine("No figure in docs/performance.md changed.");
        }
        else
        {
            text.AppendLine(previous is null
                ? "Every figure in docs/performance.md is new with this release:"
                : $"Rows of docs/performance.md that are new or changed since {previous}:");
            foreach (var section in changedFigures.GroupBy(f => f.Section))
            {
                text.AppendLine();
                text.AppendLine(inv, $"### {section.Key}");
                text.AppendLine();
                foreach (var (_, row) in section)
                {
                    text.AppendLine(row);
                }
            }
        }

        text.AppendLine();
        text.AppendLine("Verify the release with `shoppe release verify " + version + "`; the manifest lists every artifact's SHA-256 and is signed.");
        return text.ToString();
    }

    /// <summary>
    /// The table rows with figures in <paramref name="now"/> (docs/performance.md) that <paramref name="before"/>
    /// does not have, each with its section heading; every row when there was no previous release.
    /// </summary>
    public static IReadOnlyList<(string Section, string Row)> ChangedFigures(string? before, string now)
    {
        var old = before is null ? [] : FigureRows(before).Select(r => r.Row).ToHashSet(StringComparer.Ordinal);
        return FigureRows(now).Where(r => !old.Contains(r.Row)).ToList();
    }

    private static IEnumerable<(string Section, string Row)> FigureRows(string markdown)
    {
        var section = "docs/performance.md";
        foreach (var line in markdown.Split('\n'))
        {
            var trimmed = line.TrimEnd('\r');
            if (trimmed.StartsWith('#'))
            {
                section = trimmed.TrimStart('#').Trim();
            }
            else if (trimmed.StartsWith('|') && trimmed.Any(char.IsAsciiDigit) && !trimmed.Replace("|", "", StringComparison.Ordinal).All(c => c is '-' or ':' or ' '))
            {
                yield return (section, trimmed);
            }
        }
    }

    [GeneratedRegex(@"^(Docs|Tidy|Tests?|CI|Build|Chore|Readme)\b", RegexOptions.IgnoreCase)]
    private static partial Regex OtherPrefix();

    [GeneratedRegex(@"(\b(faster|slower|speed\w*|perf|performance|benchmarks?|throughput|latency|allocat\w*|pool(ed)?|vector(ised|ized)?|rate)\b|MiB/s|GB/s|\d+ ms\b)", RegexOptions.IgnoreCase)]
    private static partial Regex PerformanceWords();

    [GeneratedRegex(@"\b(fix|fixes|fixed|fixing|mend|mended|bug|defects?|regression|crash\w*|races?|leaks?|did not land|after review)\b", RegexOptions.IgnoreCase)]
    private static partial Regex FixWords();
}
