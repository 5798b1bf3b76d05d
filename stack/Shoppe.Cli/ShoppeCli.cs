using System.CommandLine;
using Shoppe.Cli.Commands;
using Spectre.Console;

namespace Shoppe.Cli;

/// <summary>The <c>shoppe</c> command line: one root, a sub-command per task.</summary>
internal static class ShoppeCli
{
    /// <summary>Runs the command line against a console (and, for tests, an HTTP handler).</summary>
    public static async Task<int> RunAsync(string[] args, IAnsiConsole console, HttpMessageHandler? httpHandler, CancellationToken cancellationToken = default)
    {
        var root = new RootCommand("Coffea Shoppe: the analysis facility's command line.");
        root.Subcommands.Add(TokenCommand.Build(console));
        root.Subcommands.Add(LogsCommand.Build(console, httpHandler));
        root.Subcommands.Add(DeliverCommand.Build(console, httpHandler));
        root.Subcommands.Add(TransferCommand.Build(console, httpHandler));
        if (!OperatingSystem.IsWindows())
        {
            root.Subcommands.Add(ReleaseCommand.Build(console, httpHandler));
            root.Subcommands.Add(SiteCommand.Build(console));
        }
        var parsed = root.Parse(args);
        return await parsed.InvokeAsync(new InvocationConfiguration(), cancellationToken);
    }
}
