using System.CommandLine;
using System.Runtime.Versioning;
using Shoppe.Conformance;
using Shoppe.Release;
using Spectre.Console;

namespace Shoppe.Cli.Commands;

/// <summary>Writes progress lines as they come, in order (unlike <see cref="Progress{T}"/>, which posts them).</summary>
internal sealed class ConsoleProgress(IAnsiConsole console) : IProgress<string>
{
    public void Report(string value)
    {
        lock (console)
        {
            console.Profile.Out.Writer.WriteLine(value);
        }
    }
}

/// <summary>
/// <c>shoppe release cut|verify|certify|publish|notes|badge|images push</c>: the release manager's commands (docs/release-process.md).
/// Exit codes: 0 done, 1 the release failed a check (verification, certification), 2 refused (bad input, dirty tree).
/// </summary>
[UnsupportedOSPlatform("windows")]
internal static class ReleaseCommand
{
    public static Command Build(IAnsiConsole console, HttpMessageHandler? handler, CliSettings settings)
    {
        var root = new Command("release", "Cut, verify, certify and publish a Coffea Shoppe release.");
        root.Subcommands.Add(Cut(console));
        root.Subcommands.Add(Verify(console));
        root.Subcommands.Add(Certify(console, settings));
        root.Subcommands.Add(Publish(console, handler));
        root.Subcommands.Add(Notes(console));
        root.Subcommands.Add(BadgeCommand(console));
        root.Subcommands.Add(new Command("images", "A release's service images (an OCI layout, from certification in containers).") { PushImages(console) });
        return root;
    }

    private static Argument<string> VersionArgument() => new("version") { Description = "The release version, MAJOR.MINOR.PATCH (e.g. 0.1.0)." };

    internal static Option<string?> RepositoryOption() => new("--repository") { Description = "The Coffea Shoppe repository (default: the one around the current folder)." };

    private static Option<string?> KeyOption() => new("--signing-key")
    {
        Description = $"The release signing key (PEM; default: $SHOPPE_RELEASE_KEY, else {ReleaseSigning.DefaultKeyPath}, created on first use).",
    };

    private static Command Cut(IAnsiConsole console)
    {
        var version = VersionArgument();
        var repository = RepositoryOption();
        var key = KeyOption();
        var command = new Command("cut", "Build every component, pack the artifacts, write the signed manifest and the release notes, bump VERSION.") { version, repository, key };
        command.SetAction((parse, cancellationToken) => Run(console, async () =>
        {
            var layout = ReleaseLayout.Find(parse.GetValue(repository));
            var manifest = await new ReleaseCutter(layout, new ConsoleProgress(console)).CutAsync(parse.GetValue(version)!, parse.GetValue(key), cancellationToken);
            console.MarkupLineInterpolated($"[green]Cut {manifest.StackVersion}[/] from {manifest.SourceCommit[..12]}: {manifest.Components.Count} components. Next: [bold]shoppe release certify {manifest.StackVersion}[/]");
            return 0;
        }));
        return command;
    }

    private static Command Verify(IAnsiConsole console)
    {
        var version = VersionArgument();
        var repository = RepositoryOption();
        var artifacts = new Option<string?>("--artifacts") { Description = "The folder holding the artifacts (default: the release's own artifacts folder)." };
        var publicKey = new Option<string?>("--public-key") { Description = "Trust this public key (PEM) instead of the keys in stack/keys/." };
        var command = new Command("verify", "Check the manifest's signature and every artifact's SHA-256.") { version, repository, artifacts, publicKey };
        command.SetAction((parse, _) => Run(console, () =>
        {
            var layout = ReleaseLayout.Find(parse.GetValue(repository));
            var (manifest, keyId, count) = ReleaseVerifier.Verify(layout, ParseVersion(parse.GetValue(version)!), parse.GetValue(artifacts), parse.GetValue(publicKey));
            var certification = manifest.Certification is { } c ? $"{c.State} on {c.At:yyyy-MM-dd} ({c.Target}, {c.Profile.Describe()})" : "not certified yet";
            console.MarkupLineInterpolated($"[green]verified[/] {manifest.StackVersion}: signed by key {keyId}; {count} artifacts match their SHA-256; {certification}");
            return Task.FromResult(0);
        }));
        return command;
    }

    private static Command Certify(IAnsiConsole console, CliSettings settings)
    {
        var version = VersionArgument();
        var repository = RepositoryOption();
        var key = KeyOption();
        var target = new Option<string>("--target") { Description = "local (processes from the artifacts), containers (images from the artifacts), or a deployment's URL.", DefaultValueFactory = _ => "local" };
        var token = new Option<string?>("--token") { Description = "For a URL target: the deployment's token (default: $SHOPPE_TOKEN)." };
        var probe = new Option<string?>("--cache-probe-path") { Description = "For a URL target: a large file under the cache, for the cache gates." };
        var gates = new Option<string?>("--gates") { Description = "The gate thresholds (default: conformance/gates.json)." };
        var command = new Command("certify", "Run the conformance suite and the performance gates; record results and profile in the manifest; render the badge.")
        {
            version, repository, key, target, token, probe, gates,
        };
        command.SetAction((parse, cancellationToken) => Run(console, async () =>
        {
            var layout = ReleaseLayout.Find(parse.GetValue(repository));
            var v = ParseVersion(parse.GetValue(version)!);
            var where = CertifyTarget.Parse(parse.GetValue(target)!, settings.ResolveToken(parse.GetValue(token)), parse.GetValue(probe));
            var report = await new ReleaseCertifier(layout, new ConsoleProgress(console)).CertifyAsync(v, where, parse.GetValue(key), cancellationToken, parse.GetValue(gates));
            Summarize(console, report, $"Coffea Shoppe {v}", layout.Conformance(v), layout.Badge(v));
            return report.Certifies ? 0 : 1;
        }));
        return command;
    }

    private static Command Publish(IAnsiConsole console, HttpMessageHandler? handler)
    {
        var version = VersionArgument();
        var repository = RepositoryOption();
        var repo = new Option<string?>("--repo") { Description = "The GitHub repository, owner/name (default: from the origin remote)." };
        var dryRun = new Option<bool>("--dry-run") { Description = "Read the release if it exists, and print every call that would change it, without making them." };
        var token = new Option<string?>("--github-token") { Description = "A token that may write releases (default: $GITHUB_TOKEN)." };
        var api = new Option<string>("--api-url") { Description = "The GitHub API (an Enterprise server's, or a replay).", DefaultValueFactory = _ => "https://api.github.com/" };
        var uncertified = new Option<bool>("--allow-uncertified") { Description = "Publish a release whose last certification failed or never ran." };
        var command = new Command("publish", "Create or update the GitHub release v<version> and upload the manifest, notes, badge, results and artifacts.")
        {
            version, repository, repo, dryRun, token, api, uncertified,
        };
        command.SetAction((parse, cancellationToken) => Run(console, async () =>
        {
            var layout = ReleaseLayout.Find(parse.GetValue(repository));
            var v = ParseVersion(parse.GetValue(version)!);
            var (manifest, _, _) = ReleaseVerifier.Verify(layout, v);
            var dry = parse.GetValue(dryRun);
            if (manifest.Certification?.State != "certified" && !parse.GetValue(uncertified))
            {
                var state = manifest.Certification is null ? "not certified" : "failed certification";
                if (!dry)
                {
                    throw new ReleaseException($"{v} is {state}: run shoppe release certify {v}, or pass --allow-uncertified.");
                }

                console.MarkupLineInterpolated($"[yellow]warning:[/] {v} is {state}; publishing it for real needs --allow-uncertified.");
            }

            var (owner, name) = await ResolveRepoAsync(parse.GetValue(repo), layout, cancellationToken);
            var githubToken = parse.GetValue(token) ?? Environment.GetEnvironmentVariable("GITHUB_TOKEN");
            if (githubToken is null && !dry)
            {
                throw new ReleaseException("Publishing needs a token that may write releases (--github-token or $GITHUB_TOKEN); --dry-run shows the calls without one.");
            }

            if (!Uri.TryCreate(parse.GetValue(api), UriKind.Absolute, out var apiUrl) || apiUrl.Scheme is not ("http" or "https"))
            {
                throw new ReleaseException($"'{parse.GetValue(api)}' is not an http(s) URL.");
            }

            var publisher = new ReleasePublisher(apiUrl, githubToken, handler is null ? null : () => handler);
            var result = await publisher.PublishAsync(owner, name, "v" + v, $"Coffea Shoppe {v}", await File.ReadAllTextAsync(layout.Notes(v), cancellationToken),
                v.PreRelease is not null, manifest.SourceCommit, ReleaseAssets(layout, v, manifest), dry, new ConsoleProgress(console), cancellationToken);
            if (dry)
            {
                console.MarkupLineInterpolated($"[yellow]dry run[/]: {result.Calls.Count} calls listed above; nothing was changed.");
            }
            else
            {
                console.MarkupLineInterpolated($"[green]published[/] {v}: {result.Uploaded} uploaded ({result.Replaced} replaced), {result.Skipped} unchanged. {result.ReleaseUrl}");
            }
            return 0;
        }));
        return command;
    }

    private static Command Notes(IAnsiConsole console)
    {
        var version = VersionArgument();
        var repository = RepositoryOption();
        var command = new Command("notes", "Print a release's notes (Markdown).") { version, repository };
        command.SetAction((parse, cancellationToken) => Run(console, async () =>
        {
            var layout = ReleaseLayout.Find(parse.GetValue(repository));
            var path = layout.Notes(ParseVersion(parse.GetValue(version)!));
            console.Profile.Out.Writer.Write(File.Exists(path) ? await File.ReadAllTextAsync(path, cancellationToken) : throw new ReleaseException($"{path} does not exist."));
            return 0;
        }));
        return command;
    }

    private static Command PushImages(IAnsiConsole console)
    {
        var version = VersionArgument();
        var repository = RepositoryOption();
        var registry = new Option<string>("--registry") { Description = "The site's registry, host[:port][/path] (as its site file's registry).", Required = true };
        var insecure = new Option<bool>("--insecure") { Description = "The registry speaks plain HTTP (a registry on loopback): TLS is not verified." };
        var images = new Option<string?>("--images") { Description = "The OCI layout (default: the release's images folder, written by shoppe release certify --target containers)." };
        var command = new Command("push", "Check the release's signature and its images against it, push each to REGISTRY/<service>:<version>, and confirm the registry serves the certified digest.")
        {
            version, repository, registry, insecure, images,
        };
        command.SetAction((parse, cancellationToken) => Run(console, async () =>
        {
            var layout = ReleaseLayout.Find(parse.GetValue(repository));
            var v = ParseVersion(parse.GetValue(version)!);
            var (manifest, keyId) = ReleaseVerifier.VerifyManifest(layout, v);
            console.MarkupLineInterpolated($"Verified {v}: signature by key {keyId}");
            var pinned = await OciImages.PushAsync(manifest, parse.GetValue(images) ?? layout.Images(v), parse.GetValue(registry)!, tlsVerify: !parse.GetValue(insecure),
                new ConsoleProgress(console), cancellationToken);
            foreach (var reference in pinned)
            {
                console.Profile.Out.Writer.WriteLine(reference);
            }

            console.MarkupLineInterpolated($"[green]pushed[/] {pinned.Count} images of {v}; a site file with registry: {parse.GetValue(registry)} deploys exactly these.");
            return 0;
        }));
        return command;
    }

    private static Command BadgeCommand(IAnsiConsole console)
    {
        var version = VersionArgument();
        var repository = RepositoryOption();
        var command = new Command("badge", "Print the path of a release's badge, with its state.") { version, repository };
        command.SetAction((parse, _) => Run(console, () =>
        {
            var layout = ReleaseLayout.Find(parse.GetValue(repository));
            var v = ParseVersion(parse.GetValue(version)!);
            var (manifest, _) = ReleaseVerifier.VerifyManifest(layout, v);
            if (manifest.Certification is null || !File.Exists(layout.Badge(v)))
            {
                throw new ReleaseException($"{v} has no certification yet: shoppe release certify {v}.");
            }

            console.Profile.Out.Writer.WriteLine($"{layout.Badge(v)}\t{manifest.Certification.State}\t{manifest.Certification.At:yyyy-MM-dd}\t{manifest.Certification.Profile.Describe()}");
            return Task.FromResult(0);
        }));
        return command;
    }

    /// <summary>The files a release publishes: manifest and signature, notes, badge, conformance results, artifacts.</summary>
    internal static List<PublishAsset> ReleaseAssets(ReleaseLayout layout, StackVersion version, ReleaseManifest manifest)
    {
        var files = new List<(string Path, string Name, string Type)>
        {
            (layout.Manifest(version), "manifest.json", "application/json"),
            (ReleaseSigning.SignaturePath(layout.Manifest(version)), "manifest.sig", "application/json"),
            (layout.Notes(version), "release-notes.md", "text/markdown"),
            (layout.Badge(version), "badge.svg", "image/svg+xml"),
            (Path.Combine(layout.Conformance(version), "junit.xml"), "conformance-junit.xml", "application/xml"),
            (Path.Combine(layout.Conformance(version), "summary.json"), "conformance-summary.json", "application/json"),
        };
        var assets = files.Where(f => File.Exists(f.Path)).Select(f => new PublishAsset(f.Path, f.Name, $"{f.Name} sha256:{Tarball.Sha256(f.Path)}", f.Type)).ToList();

        // The artifacts' digests are the manifest's: publication verified every artifact against them just before.
        assets.AddRange(manifest.Components.SelectMany(c => c.Artifacts)
            .Select(a => new PublishAsset(Path.Combine(layout.Artifacts(version), a.File), a.File, $"{a.File} sha256:{a.Sha256}", "application/gzip")));
        return assets;
    }

    private static async Task<(string Owner, string Name)> ResolveRepoAsync(string? option, ReleaseLayout layout, CancellationToken cancellationToken)
    {
        var text = option;
        if (text is null)
        {
            var remote = (await Processes.GitAsync(layout.Root, cancellationToken, "remote", "get-url", "origin")).Trim();
            var at = remote.IndexOf("github.com", StringComparison.OrdinalIgnoreCase);
            text = at < 0 ? throw new ReleaseException("The origin remote is not on GitHub: pass --repo owner/name.") : remote[(at + "github.com".Length + 1)..];
            text = text.EndsWith(".git", StringComparison.Ordinal) ? text[..^4] : text;
        }

        var parts = text.Split('/');
        return parts.Length == 2 && parts.All(p => p.Length is > 0 and <= 100 && p.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            ? (parts[0], parts[1])
            : throw new ReleaseException($"'{text}' is not a GitHub repository: use owner/name.");
    }

    internal static StackVersion ParseVersion(string text) =>
        StackVersion.TryParse(text.StartsWith('v') ? text[1..] : text, out var version) ? version : throw new ReleaseException($"'{text}' is not a version: use MAJOR.MINOR.PATCH.");

    /// <summary>The readable end of a certification: counts, every failure, where the results and the badge are.</summary>
    internal static void Summarize(IAnsiConsole console, ConformanceReport report, string subject, string resultsFolder, string badge)
    {
        console.WriteLine();
        console.MarkupLineInterpolated($"{subject} on {report.Target} ({report.Profile.Describe()}): {ReleaseCertifier.Counts(report.Summary)}");
        foreach (var failed in report.Checks.Where(c => c.Outcome == Outcome.Failed))
        {
            console.MarkupLineInterpolated($"  [red]FAILED[/] {failed.Suite}: {failed.Name} — {failed.Message}");
        }

        foreach (var na in report.Checks.Where(c => c.Outcome == Outcome.NotApplicable))
        {
            console.MarkupLineInterpolated($"  [grey]n/a[/] {na.Suite}: {na.Name} — {na.Message}");
        }

        if (report.Certifies)
        {
            console.MarkupLineInterpolated($"[green]certified[/]. Results: {resultsFolder}  Badge: {badge}");
        }
        else
        {
            console.MarkupLineInterpolated($"[red]not certified[/]. Results: {resultsFolder}  Badge: {badge}");
        }
    }

    /// <summary>Runs a command body, turning refusals into a message and exit code 2.</summary>
    internal static async Task<int> Run(IAnsiConsole console, Func<Task<int>> body)
    {
        try
        {
            return await body();
        }
        catch (ReleaseTamperedException ex)
        {
            console.MarkupLineInterpolated($"[red]refused:[/] {ex.Message}");
            return 1;
        }
        catch (ReleaseException ex)
        {
            console.MarkupLineInterpolated($"[red]error:[/] {ex.Message}");
            return 2;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Anything else (a missing file, a network failure, the Docker engine, GitHub): a refusal with its reason,
            // never exit code 1, which means a check failed.
            console.MarkupLineInterpolated($"[red]error:[/] {ex.GetType().Name}: {ex.Message}");
            return 2;
        }
    }
}
