using System.CommandLine;
using Shoppe.Cli.Commands;
using Spectre.Console;

namespace Shoppe.Cli;

/// <summary>The <c>shoppe</c> command line: one root, a sub-command per task.</summary>
internal static class ShoppeCli
{
    /// <summary>Runs the command line against a console (and, for tests, an HTTP handler), with this process's environment.</summary>
    public static Task<int> RunAsync(string[] args, IAnsiConsole console, HttpMessageHandler? httpHandler, CancellationToken cancellationToken = default) =>
        RunAsync(args, console, httpHandler, CliSettings.FromProcess(), cancellationToken);

    /// <summary>Runs the command line with <paramref name="settings"/> saying where the facility is when options do not.</summary>
    public static async Task<int> RunAsync(string[] args, IAnsiConsole console, HttpMessageHandler? httpHandler, CliSettings settings, CancellationToken cancellationToken)
    {
        var root = new RootCommand("Coffea Shoppe: the analysis facility's command line.");
        root.Subcommands.Add(TokenCommand.Build(console, settings));
        root.Subcommands.Add(LogsCommand.Build(console, httpHandler, settings));
        root.Subcommands.Add(DeliverCommand.Build(console, httpHandler, settings));
        root.Subcommands.Add(ScanCommand.Build(console, httpHandler, settings));
        root.Subcommands.Add(TransferCommand.Build(console, httpHandler, settings));
        root.Subcommands.Add(WorkflowCommand.Build(console, httpHandler, settings));
        root.Subcommands.Add(PilotCommand.Build(console, httpHandler, settings));
        if (!OperatingSystem.IsWindows())
        {
            root.Subcommands.Add(ReleaseCommand.Build(console, httpHandler, settings));
            root.Subcommands.Add(SiteCommand.Build(console, settings));
        }
        var parsed = root.Parse(args);
        return await parsed.InvokeAsync(new InvocationConfiguration(), cancellationToken);
    }
}
