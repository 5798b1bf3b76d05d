using System.Diagnostics;
using Microsoft.Extensions.Options;
using Shoppe.Security;

namespace Shoppe.Workflow.Pilots;

/// <summary>
/// The one-machine facility's pilots: <c>Workflow:LocalPilots</c> processes of <c>shoppe pilot</c>, started with the
/// service and started again if one ends, each with a pilot token minted from the facility's key.
/// </summary>
internal sealed partial class LocalPilots(IOptions<WorkflowOptions> options, ShoppeSecurityOptions security, TimeProvider time,
    Microsoft.AspNetCore.Hosting.Server.IServer server, IHostApplicationLifetime lifetime, IOptions<ServiceDefaults.ShoppeHostOptions> host, ILogger<LocalPilots> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        if (settings.LocalPilots == 0)
        {
            return;
        }

        if (string.IsNullOrEmpty(settings.PilotCommand))
        {
            LogNoCommand(logger);
            return;
        }

        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var registration = lifetime.ApplicationStarted.Register(started.SetResult);
        await started.Task.WaitAsync(stoppingToken);
        var address = server.Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()?.Addresses.FirstOrDefault()
            ?? throw new InvalidOperationException("The workflow service has no address for its pilots.");
        var pilots = new Process?[settings.LocalPilots];
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                for (var i = 0; i < pilots.Length; i++)
                {
                    if (pilots[i] is null or { HasExited: true })
                    {
                        pilots[i]?.Dispose();
                        pilots[i] = Start(settings.PilotCommand, address, i);
                    }
                }

                await Task.Delay(1000, stoppingToken);
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
        finally
        {
            foreach (var pilot in pilots)
            {
                try
                {
                    pilot?.Kill(entireProcessTree: true);
                }
                catch (InvalidOperationException)
                {
                    // Ended already.
                }

                pilot?.Dispose();
            }
        }
    }

    private Process Start(string command, string address, int number)
    {
        var token = new TokenIssuer(security, time).Issue("local-pilot", [ShoppeClaims.PilotRole], TimeSpan.FromDays(30));
        var start = command.EndsWith(".dll", StringComparison.Ordinal) ? new ProcessStartInfo("dotnet") { ArgumentList = { command } } : new ProcessStartInfo(command);
        foreach (var argument in new[] { "pilot", "--server", address, "--work-dir", Path.Combine(host.Value.DataRoot, "pilots", $"local-{number}") })
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["SHOPPE_TOKEN"] = token;
        start.UseShellExecute = false;
        var process = Process.Start(start) ?? throw new InvalidOperationException($"{command} did not start");
        LogStarted(logger, number, process.Id);
        return process;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Workflow:LocalPilots is set but Workflow:PilotCommand is not: no local pilot starts")]
    private static partial void LogNoCommand(ILogger logger);

    [LoggerMessage(Level = LogLevel.Information, Message = "Local pilot {Number} started (pid {Pid})")]
    private static partial void LogStarted(ILogger logger, int number, int pid);
}
