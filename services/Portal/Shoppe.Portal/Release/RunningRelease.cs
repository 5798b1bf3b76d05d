using Markdig;
using Markdig.Syntax;
using Microsoft.Extensions.Options;
using Shoppe.Release;
using Shoppe.ServiceDefaults.Versioning;

namespace Shoppe.Portal.Release;

/// <summary>The release the facility runs, as the portal read and verified it.</summary>
/// <param name="Version">The stack version the portal was built for.</param>
/// <param name="Manifest">The release's manifest, when one was found and its signature verified.</param>
/// <param name="KeyId">The trusted key that signed it.</param>
/// <param name="Problem">Why there is no verified manifest, when there is none.</param>
/// <param name="NotesHtml">The release notes as HTML (Markdown without raw HTML), when the release has them.</param>
/// <param name="HasBadge">Whether the release has a certification badge.</param>
public sealed record ReleaseView(string Version, ReleaseManifest? Manifest, string? KeyId, string? Problem, string? NotesHtml, bool HasBadge)
{
    /// <summary>The version the release names for <paramref name="component"/>, if it names it.</summary>
    public string? Released(string component) => Manifest?.Components.FirstOrDefault(c => c.Name == component)?.Version;

    /// <summary>The running version without its build metadata (<c>0.1.0+abc</c> is <c>0.1.0</c>), to compare with the manifest's.</summary>
    public static string Plain(string version) => version.Split('+')[0];
}

/// <summary>
/// Reads <c>stack/releases/&lt;version&gt;/</c> under <see cref="ReleaseOptions.Repository"/> for the portal's own stack
/// version and verifies the manifest's signature with the trusted keys: once, and again whenever the manifest, its
/// signature or its notes change on disk (a certification rewrites the manifest).
/// </summary>
public sealed partial class RunningRelease(IOptions<ReleaseOptions> options, ShoppeServiceInfo info, ILogger<RunningRelease> logger)
{
    private static readonly MarkdownPipeline Pipeline = new MarkdownPipelineBuilder().UseAdvancedExtensions().DisableHtml().Build();
    private readonly Lock _gate = new();
    private (string Stamp, ReleaseView View)? _last;

    /// <summary>The release as it is on disk now.</summary>
    public ReleaseView Current()
    {
        if (string.IsNullOrWhiteSpace(options.Value.Repository))
        {
            return new ReleaseView(info.StackVersion, null, null, "The portal is not told where releases are (Portal:Release:Repository).", null, false);
        }

        if (!StackVersion.TryParse(info.StackVersion, out var version))
        {
            return new ReleaseView(info.StackVersion, null, null, $"'{info.StackVersion}' is not a stack version.", null, false);
        }

        var layout = new ReleaseLayout(options.Value.Repository);
        var stamp = Stamp(layout.Manifest(version), ReleaseSigning.SignaturePath(layout.Manifest(version)), layout.Notes(version), layout.Badge(version));
        lock (_gate)
        {
            if (_last is { } last && last.Stamp == stamp)
            {
                return last.View;
            }
        }

        var view = Read(layout, version);
        lock (_gate)
        {
            _last = (stamp, view);
        }

        return view;
    }

    /// <summary>The release's badge (SVG), when it has one.</summary>
    public string? BadgeFile()
    {
        var view = Current();
        return view.HasBadge && StackVersion.TryParse(view.Version, out var version)
            ? new ReleaseLayout(options.Value.Repository!).Badge(version)
            : null;
    }

    private ReleaseView Read(ReleaseLayout layout, StackVersion version)
    {
        if (!File.Exists(layout.Manifest(version)))
        {
            return new ReleaseView(info.StackVersion, null, null, $"No release {version} has been cut: this facility runs a build that no release names.", null, false);
        }

        try
        {
            var (manifest, keyId) = ReleaseVerifier.VerifyManifest(layout, version);
            var notes = File.Exists(layout.Notes(version)) ? NotesHtml(File.ReadAllText(layout.Notes(version))) : null;
            return new ReleaseView(info.StackVersion, manifest, keyId, null, notes, File.Exists(layout.Badge(version)));
        }
        catch (ReleaseException ex)
        {
            // The reason names the portal's files: operators read it in the log, readers of the page get the gist.
            LogUntrusted(logger, version.ToString(), ex.Message);
            return new ReleaseView(info.StackVersion, null, null,
                $"The manifest of {version} is not trusted: it does not verify with the keys this facility trusts, or it was changed after it was signed.", null, false);
        }
    }

    /// <summary>The notes as HTML, their headings two levels down: they sit under the page's own "Release notes" heading.</summary>
    private static string NotesHtml(string markdown)
    {
        var document = Markdig.Markdown.Parse(markdown, Pipeline);
        foreach (var heading in document.Descendants<HeadingBlock>())
        {
            heading.Level = Math.Min(6, heading.Level + 2);
        }

        return document.ToHtml(Pipeline);
    }

    [LoggerMessage(1, LogLevel.Warning, "The manifest of release {Version} is not trusted: {Reason}")]
    private static partial void LogUntrusted(ILogger logger, string version, string reason);

    /// <summary>Each file's time and length (one look at each), or "-" where it is missing.</summary>
    private static string Stamp(params string[] files) =>
        string.Join('|', files.Select(f => new FileInfo(f) is { Exists: true } info ? $"{info.LastWriteTimeUtc.Ticks}:{info.Length}" : "-"));
}
