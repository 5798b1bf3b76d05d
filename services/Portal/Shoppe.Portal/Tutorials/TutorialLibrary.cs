using Markdig;

namespace Shoppe.Portal.Tutorials;

/// <summary>One walk-through: its name (the file's, without .md), its title (its first heading) and its text.</summary>
public sealed record Tutorial(string Name, string Title, string Markdown);

/// <summary>
/// The repository's walk-throughs (tutorials/*.md, shipped beside the portal), each of which the test suite executes as
/// written. Pages name them only from this list, so no path a reader sends is ever opened.
/// </summary>
public sealed class TutorialLibrary
{
    private static readonly MarkdownPipeline Pipeline = new MarkdownPipelineBuilder().UseAdvancedExtensions().DisableHtml().Build();
    private readonly Dictionary<string, Tutorial> _byName;

    public TutorialLibrary(string folder)
    {
        _byName = (Directory.Exists(folder) ? Directory.GetFiles(folder, "*.md") : [])
            .Select(path =>
            {
                var text = File.ReadAllText(path);
                var title = text.Split('\n').FirstOrDefault(l => l.StartsWith("# ", StringComparison.Ordinal))?[2..].Trim() ?? Path.GetFileNameWithoutExtension(path);
                return new Tutorial(Path.GetFileNameWithoutExtension(path), title, text);
            })
            .ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    /// <summary>Every walk-through, by title.</summary>
    public IReadOnlyList<Tutorial> All => [.. _byName.Values.OrderBy(t => t.Title, StringComparer.Ordinal)];

    /// <summary>The walk-through of that name, or null.</summary>
    public Tutorial? Find(string name) => _byName.GetValueOrDefault(name);

    /// <summary>A walk-through as HTML (its Markdown's own HTML is not passed through).</summary>
    public static string Html(Tutorial tutorial) => Markdown.ToHtml(tutorial.Markdown, Pipeline);
}
