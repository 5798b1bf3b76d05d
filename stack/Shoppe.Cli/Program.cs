using Shoppe.Cli;
using Spectre.Console;

return await ShoppeCli.RunAsync(args, AnsiConsole.Console, httpHandler: null);
