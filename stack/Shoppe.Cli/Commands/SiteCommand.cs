using System.CommandLine;
using System.Net.Http.Json;
using System.Runtime.Versioning;
using System.Text.Json;
using Shoppe.Conformance;
using Shoppe.Release;
using Spectre.Console;

namespace Shoppe.Cli.Commands;

/// <summary>
/// <c>shoppe site deploy --site FILE --release VERSION</c>: a site admin deploys a certified release (docs/deploy.md).
/// <c>shoppe site certify --url URL</c>: a site admin runs the conformance suite and the gates against the site's own
/// deployment and earns (or not) the site's badge (docs/conformance.md). Exit code 0 certified, 1 not, 2 refused.
/// </summary>
[UnsupportedOSPlatform("windows")]
internal static class SiteCommand
{
    public static Command Build(IAnsiConsole console, CliSettings settings)
    {
        var url = new Option<string>("--url") { Description = "The site's portal URL (the other services at the same host on the facility's ports, unless --service says otherwise).", Required = true };
        var services = new Option<string[]>("--service") { Description = "A service's URL where it is not on the portal's host: name=URL (repeatable).", AllowMultipleArgumentsPerToken = true };
        var token = new Option<string?>("--token") { Description = "A token of the site (default: $SHOPPE_TOKEN); transfer checks need storage scopes on /conformance." };
        var release = new Option<string?>("--release") { Description = "The release the site claims to run: its manifest's versions are checked (default: the portal's own stack version)." };
        var repository = new Option<string?>("--repository") { Description = "The Coffea Shoppe repository holding the release manifests (default: around the current folder)." };
        var probe = new Option<string?>("--cache-probe-path") { Description = "A large file under the site's cache, for the cache gates (without it they are n/a)." };
        var dataset = new Option<string>("--dataset") { Description = "The dataset the end-to-end delivery reads.", DefaultValueFactory = _ => "nanoaod-samples" };
        var name = new Option<string?>("--name") { Description = "The site's name on its badge (default: the portal's host)." };
        var output = new Option<string>("--out") { Description = "Where the results and the badge go.", DefaultValueFactory = _ => "site-certification" };
        var gates = new Option<string?>("--gates") { Description = "The gate thresholds (default: the suite's conformance/gates.json)." };
        var certify = new Command("certify", "Run the conformance suite and the gates against the site's deployment; write JUnit XML, a JSON summary and the site's badge.")
        {
            url, services, token, release, repository, probe, dataset, name, output, gates,
        };
        certify.SetAction((parse, cancellationToken) => ReleaseCommand.Run(console, async () =>
        {
            if (!Uri.TryCreate(parse.GetValue(url), UriKind.Absolute, out var portal) || portal.Scheme is not ("http" or "https"))
            {
                throw new ReleaseException($"'{parse.GetValue(url)}' is not an http(s) URL.");
            }

            var siteToken = settings.ResolveToken(parse.GetValue(token))
                            ?? throw new ReleaseException("Certifying a site needs one of its tokens (--token or $SHOPPE_TOKEN).");
            var named = new Dictionary<string, Uri>(StringComparer.Ordinal);
            foreach (var pair in parse.GetValue(services) ?? [])
            {
                var eq = pair.IndexOf('=', StringComparison.Ordinal);
                if (eq <= 0 || !Uri.TryCreate(pair[(eq + 1)..], UriKind.Absolute, out var serviceUrl) || FacilityComponents.Services.All(c => c.Name != pair[..eq]))
                {
                    throw new ReleaseException($"'{pair}' is not name=URL with a service name ({string.Join(", ", FacilityComponents.Services.Select(c => c.Name))}).");
                }

                named[pair[..eq]] = serviceUrl;
            }

            await using var site = new DeploymentEnvironment(portal, named, siteToken) { CacheProbePath = parse.GetValue(probe), Dataset = parse.GetValue(dataset)!, DatasetEvents = null };
            var expected = await ExpectedAsync(parse.GetValue(release), parse.GetValue(repository), site, cancellationToken);
            var progress = new ConsoleProgress(console);
            var gateSet = GateSet.Load(parse.GetValue(gates) ?? GateSet.DefaultPath);
            var scratch = ReleaseCertifier.ScratchFolder("shoppe-site-");
            ConformanceReport report;
            try
            {
                report = await ConformanceRun.RunAsync(site, expected, gateSet, scratch, progress, cancellationToken);
            }
            finally
            {
                Directory.Delete(scratch, recursive: true);
            }

            var folder = Path.GetFullPath(parse.GetValue(output)!);
            report.Write(folder);
            var badge = Path.Combine(folder, "badge.svg");
            var subject = $"{parse.GetValue(name) ?? portal.Host} · Coffea Shoppe {expected?.StackVersion ?? "?"}";
            await File.WriteAllTextAsync(badge, Badge.Render(subject, report.Certifies, report.At, report.Profile.Describe(), ReleaseCertifier.Counts(report.Summary)), cancellationToken);
            ReleaseCommand.Summarize(console, report, subject, folder, badge);
            return report.Certifies ? 0 : 1;
        }));
        return new Command("site", "Deploy a certified release to a site's Kubernetes cluster, and certify the site.") { Deploy(console), certify };
    }

    /// <summary>
    /// <c>shoppe site deploy --site FILE --release VERSION</c>: exit code 0 deployed (or previewed), 1 refused as altered,
    /// 2 refused, 3 Pulumi failed (its own output says why).
    /// </summary>
    private static Command Deploy(IAnsiConsole console)
    {
        var site = new Option<string>("--site") { Description = "The site file (infra/sites/<name>.yaml; docs/schemas/site.schema.json).", Required = true };
        var release = new Option<string>("--release") { Description = "The release to deploy (its images pushed to the site's registry: shoppe release images push).", Required = true };
        var stack = new Option<string?>("--stack") { Description = "The Pulumi stack (default: the site file's name)." };
        var preview = new Option<bool>("--preview") { Description = "Show what would change (pulumi preview), change nothing." };
        var repository = ReleaseCommand.RepositoryOption();
        var deploy = new Command("deploy", "Check the release's signature, its image digests and that infra/ is its Pulumi program; then run the program (pulumi up) for the site.")
        {
            site, release, stack, preview, repository,
        };
        deploy.SetAction((parse, cancellationToken) => ReleaseCommand.Run(console, async () =>
        {
            var layout = ReleaseLayout.Find(parse.GetValue(repository));
            var version = ReleaseCommand.ParseVersion(parse.GetValue(release)!);
            var code = await new SiteDeployer(layout, new ConsoleProgress(console)).DeployAsync(parse.GetValue(site)!, version, parse.GetValue(stack),
                parse.GetValue(preview) ? DeployAction.Preview : DeployAction.Up, cancellationToken);
            if (code != 0)
            {
                console.MarkupLineInterpolated($"[red]pulumi failed[/] (exit code {code}); its output above says why.");
                return 3;
            }

            if (!parse.GetValue(preview))
            {
                console.MarkupLineInterpolated($"[green]deployed[/] {version}. Next: [bold]shoppe site certify --url <the portal's URL> --release {version}[/]");
            }

            return 0;
        }));
        return deploy;
    }

    /// <summary>The release the site must run: from a verified manifest when named, else the stack version its portal reports.</summary>
    private static async Task<ExpectedRelease?> ExpectedAsync(string? release, string? repository, DeploymentEnvironment site, CancellationToken cancellationToken)
    {
        if (release is not null)
        {
            var layout = ReleaseLayout.Find(repository);
            var (manifest, _) = ReleaseVerifier.VerifyManifest(layout, ReleaseCommand.ParseVersion(release));
            return new ExpectedRelease(manifest.StackVersion, manifest.SourceCommit, manifest.Components.ToDictionary(c => c.Name, c => c.Version, StringComparer.Ordinal));
        }

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        try
        {
            var info = await http.GetFromJsonAsync<JsonElement>(new Uri(site.Services["portal"], "version"), cancellationToken);
            var stack = info.GetProperty("stackVersion").GetString()!;
            return new ExpectedRelease(stack, null, new Dictionary<string, string>());
        }
        catch (Exception ex) when (ex is HttpRequestException or JsonException or KeyNotFoundException or TaskCanceledException)
        {
            // The version checks then report what each service says; the portal check fails on its own.
            return null;
        }
    }
}
