using Spectre.Console;

namespace Shoppe.Cli;

/// <summary>The entry point of <c>shoppe</c>.</summary>
internal static class Program
{
    public static Task<int> Main(string[] args)
    {
        if (Console.IsOutputRedirected)
        {
            // Into a file or a pipe, lines are kept whole (Spectre would wrap them at 80 columns).
            AnsiConsole.Console.Profile.Width = 4096;
        }

        return ShoppeCli.RunAsync(args, AnsiConsole.Console, httpHandler: null);
    }
}
