using Spectre.Console;

namespace Shoppe.Cli;

/// <summary>The entry point of <c>shoppe</c>.</summary>
internal static class Program
{
    public static Task<int> Main(string[] args) => ShoppeCli.RunAsync(args, AnsiConsole.Console, httpHandler: null);
}
