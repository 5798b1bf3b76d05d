using System.CommandLine;
using Shoppe.Delivery.Tasks;
using Shoppe.Workflow.Pilots;
using Spectre.Console;

namespace Shoppe.Cli.Commands;

/// <summary>
/// <c>shoppe pilot</c>: runs a pilot in this process: it pulls ready jobs from each service it is given (the
/// workflow service's jobs, the delivery service's files) with one protocol, runs them on one count of cores,
/// heartbeats and reports. A local process, a Slurm job's payload, or a pod's command at a site.
/// </summary>
internal static class PilotCommand
{
    public const string DefaultWorkflowUrl = "http://127.0.0.1:5104";

    /// <summary>The services a pilot serves when no <c>--server</c> is given: base URLs, comma-separated.</summary>
    public const string ServersVariable = "SHOPPE_PILOT_SERVERS";

    public static Command Build(IAnsiConsole console, HttpMessageHandler? handler, CliSettings settings)
    {
        var server = new Option<string[]>("--server")
        {
            Description = $"A service to take jobs from, repeatable: the workflow service, the delivery service (its files run here). Default: ${ServersVariable} (comma-separated), else the workflow service ($SHOPPE_WORKFLOW_URL, else the running facility's, else {DefaultWorkflowUrl}).",
            AllowMultipleArgumentsPerToken = false,
        };
        var cache = new Option<string?>("--cache") { Description = "A cache near this pilot: delivery files on the facility's cache are read here instead." };
        var token = new Option<string?>("--token") { Description = "A pilot token (any user's jobs) or your own (your jobs); default $SHOPPE_TOKEN or the saved token." };
        var cores = new Option<int>("--cores") { Description = "Cores to keep busy (default: this machine's, or SLURM_CPUS_ON_NODE).", DefaultValueFactory = _ => DefaultCores() };
        var workDir = new Option<string?>("--work-dir") { Description = "Where jobs without a working folder run (default: a temporary folder)." };
        var only = new Option<string?>("--only") { Description = "Run this one job, then exit (a heavy job's own batch job)." };
        var idleExit = new Option<double?>("--idle-exit") { Description = "Exit after this many seconds without a job (batch pilots give their slot back)." };
        var command = new Command("pilot", "Run a pilot: pull ready jobs (workflow jobs, delivery files), run them, report.") { server, token, cores, workDir, only, idleExit, cache };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var resolvedToken = settings.ResolveToken(parse.GetValue(token));
            if (resolvedToken is null)
            {
                console.MarkupLine("[red]error:[/] no token: pass --token, set SHOPPE_TOKEN, or run [bold]shoppe token issue[/].");
                return 2;
            }

            List<Uri> servers;
            Uri? nearestCache;
            try
            {
                var given = parse.GetValue(server) is { Length: > 0 } named ? named
                    : Environment.GetEnvironmentVariable(ServersVariable)?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [];
                servers = given.Length > 0
                    ? [.. given.Select(s => settings.ResolveUrl(s, "SHOPPE_WORKFLOW_URL", "workflow", DefaultWorkflowUrl))]
                    : [settings.ResolveUrl(null, "SHOPPE_WORKFLOW_URL", "workflow", DefaultWorkflowUrl)];
                nearestCache = parse.GetValue(cache) is not { } cacheUrl ? null
                    : Uri.TryCreate(cacheUrl, UriKind.Absolute, out var parsed) && parsed.Scheme is "http" or "https" ? parsed
                    : throw new ArgumentException($"'{cacheUrl}' is not an http(s) URL.");
            }
            catch (ArgumentException ex)
            {
                console.MarkupLineInterpolated($"[red]error:[/] {ex.Message}");
                return 2;
            }

            // One runner per service, one pilot: the same id, the same cores, the same work folder.
            var first = new PilotOptions
            {
                Server = servers[0],
                Token = resolvedToken,
                Cores = Math.Max(1, parse.GetValue(cores)),
                WorkDirectory = parse.GetValue(workDir) ?? Path.Combine(Path.GetTempPath(), $"shoppe-pilot-{Environment.ProcessId}"),
                Only = parse.GetValue(only),
                IdleExit = parse.GetValue(idleExit) is { } seconds ? TimeSpan.FromSeconds(seconds) : null,
            };
            using var files = new PilotFileTask(nearestCache);
            var tasks = new Dictionary<string, IPilotTask>(StringComparer.Ordinal) { [PilotFileTask.Kind] = files };
            var runners = servers.Distinct().Select(s => new PilotRunner(first with { Server = s, Tasks = tasks }, handler, line => console.MarkupLineInterpolated($"[grey]{line}[/]"))).ToList();
            console.MarkupLineInterpolated($"Pilot [bold]{first.Id}[/]: {first.Cores} cores, jobs from {string.Join(", ", servers.Distinct())}");
            try
            {
                // A runner that fails (its service refused the pilot) stops the others: the pilot exits and says why.
                using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                var summaries = await Task.WhenAll(runners.Select(async r =>
                {
                    try
                    {
                        return await r.RunAsync(stop.Token);
                    }
                    catch (InvalidOperationException)
                    {
                        await stop.CancelAsync();
                        throw;
                    }
                }));
                console.MarkupLineInterpolated($"Pilot done: {summaries.Sum(s => s.JobsRun)} jobs run, {summaries.Sum(s => s.JobsSucceeded)} succeeded, {summaries.Sum(s => s.JobsFailed)} failed, {summaries.Sum(s => s.JobsStopped)} stopped.");
                return 0;
            }
            catch (InvalidOperationException ex)
            {
                console.MarkupLineInterpolated($"[red]error:[/] {ex.Message}");
                return 2;
            }
            finally
            {
                foreach (var runner in runners)
                {
                    runner.Dispose();
                }
            }
        });
        return command;
    }

    private static int DefaultCores() =>
        int.TryParse(Environment.GetEnvironmentVariable("SLURM_CPUS_ON_NODE"), out var slurm) && slurm > 0 ? slurm : Environment.ProcessorCount;
}
