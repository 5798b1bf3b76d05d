using System.CommandLine;
using Shoppe.Workflow.Pilots;
using Spectre.Console;

namespace Shoppe.Cli.Commands;

/// <summary>
/// <c>shoppe pilot</c>: runs a workflow pilot in this process (PilotRunner): it pulls ready jobs from the workflow
/// service, runs them, heartbeats and reports. A local process, a Slurm job's payload, or a pod's command at a site.
/// </summary>
internal static class PilotCommand
{
    public const string DefaultWorkflowUrl = "http://127.0.0.1:5104";

    public static Command Build(IAnsiConsole console, HttpMessageHandler? handler, CliSettings settings)
    {
        var server = new Option<string?>("--server") { Description = $"The workflow service (default: $SHOPPE_WORKFLOW_URL, else the running facility's, else {DefaultWorkflowUrl})." };
        var token = new Option<string?>("--token") { Description = "A pilot token (any user's jobs) or your own (your jobs); default $SHOPPE_TOKEN or the saved token." };
        var cores = new Option<int>("--cores") { Description = "Cores to keep busy (default: this machine's, or SLURM_CPUS_ON_NODE).", DefaultValueFactory = _ => DefaultCores() };
        var workDir = new Option<string?>("--work-dir") { Description = "Where jobs without a working folder run (default: a temporary folder)." };
        var only = new Option<string?>("--only") { Description = "Run this one job, then exit (a heavy job's own batch job)." };
        var idleExit = new Option<double?>("--idle-exit") { Description = "Exit after this many seconds without a job (batch pilots give their slot back)." };
        var command = new Command("pilot", "Run a workflow pilot: pull ready jobs, run them, report.") { server, token, cores, workDir, only, idleExit };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var resolvedToken = settings.ResolveToken(parse.GetValue(token));
            if (resolvedToken is null)
            {
                console.MarkupLine("[red]error:[/] no token: pass --token, set SHOPPE_TOKEN, or run [bold]shoppe token issue[/].");
                return 2;
            }

            var options = new PilotOptions
            {
                Server = settings.ResolveUrl(parse.GetValue(server), "SHOPPE_WORKFLOW_URL", "workflow", DefaultWorkflowUrl),
                Token = resolvedToken,
                Cores = Math.Max(1, parse.GetValue(cores)),
                WorkDirectory = parse.GetValue(workDir) ?? Path.Combine(Path.GetTempPath(), $"shoppe-pilot-{Environment.ProcessId}"),
                Only = parse.GetValue(only),
                IdleExit = parse.GetValue(idleExit) is { } seconds ? TimeSpan.FromSeconds(seconds) : null,
            };
            console.MarkupLineInterpolated($"Pilot [bold]{options.Id}[/]: {options.Cores} cores, jobs from {options.Server}");
            using var runner = new PilotRunner(options, handler, line => console.MarkupLineInterpolated($"[grey]{line}[/]"));
            try
            {
                var summary = await runner.RunAsync(cancellationToken);
                console.MarkupLineInterpolated($"Pilot done: {summary.JobsRun} jobs run, {summary.JobsSucceeded} succeeded, {summary.JobsFailed} failed, {summary.JobsStopped} stopped.");
                return 0;
            }
            catch (InvalidOperationException ex)
            {
                console.MarkupLineInterpolated($"[red]error:[/] {ex.Message}");
                return 2;
            }
        });
        return command;
    }

    private static int DefaultCores() =>
        int.TryParse(Environment.GetEnvironmentVariable("SLURM_CPUS_ON_NODE"), out var slurm) && slurm > 0 ? slurm : Environment.ProcessorCount;
}
