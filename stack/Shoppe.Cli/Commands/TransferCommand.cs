using System.CommandLine;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace Shoppe.Cli.Commands;

/// <summary>
/// <c>shoppe transfer SOURCE DESTINATION</c>: queues a third-party copy on the transfer service and follows it with a
/// progress bar fed by the copy's performance markers. Exit code 0 when copied, 1 when it failed, 2 when refused.
/// </summary>
internal static class TransferCommand
{
    public const string DefaultTransferUrl = "http://127.0.0.1:5103";

    public static Command Build(IAnsiConsole console, HttpMessageHandler? handler, CliSettings settings)
    {
        var source = new Argument<string>("source") { Description = "The file to copy: an http(s) URL of an HTTP-TPC endpoint." };
        var destination = new Argument<string>("destination") { Description = "Where it goes: an http(s) URL of an HTTP-TPC endpoint (it pulls the file)." };
        var verify = new Option<bool>("--verify") { Description = "Have the destination check the adler32 checksum." };
        var sourceToken = new Option<string?>("--source-token") { Description = "A token for the source (sent on as TransferHeaderAuthorization)." };
        var destinationToken = new Option<string?>("--destination-token") { Description = "A token for the destination." };
        var noWait = new Option<bool>("--no-wait") { Description = "Queue the copy, print its request id, and return." };
        var url = new Option<string?>("--url") { Description = $"The transfer service (default: $SHOPPE_TRANSFER_URL, else the running facility's, else {DefaultTransferUrl})." };
        var token = new Option<string?>("--token") { Description = "Your token (default: $SHOPPE_TOKEN or the saved token)." };

        var command = new Command("transfer", "Copy a file between two storage endpoints (HTTP third-party copy), with progress.") { source, destination, verify, sourceToken, destinationToken, noWait, url, token };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var http = settings.CreateClient(console, handler, parse.GetValue(url), "SHOPPE_TRANSFER_URL", "transfer", DefaultTransferUrl, parse.GetValue(token), TimeSpan.FromMinutes(5));
            if (http is null)
            {
                return 2;
            }

            try
            {
                using var response = await http.PostAsJsonAsync("/v1/transfers", new JsonObject
                {
                    ["source"] = parse.GetValue(source),
                    ["destination"] = parse.GetValue(destination),
                    ["verifyChecksum"] = parse.GetValue(verify),
                    ["sourceToken"] = parse.GetValue(sourceToken),
                    ["destinationToken"] = parse.GetValue(destinationToken),
                }, cancellationToken);
                var body = await response.Content.ReadAsStringAsync(cancellationToken);
                if (!response.IsSuccessStatusCode)
                {
                    JsonNode? problem = null;
                    try
                    {
                        problem = JsonNode.Parse(body);
                    }
                    catch (System.Text.Json.JsonException)
                    {
                        // Not problem details (an empty 401, a proxy's page): the raw answer is shown.
                    }

                    console.MarkupLineInterpolated($"[red]error:[/] {problem?["title"]?.GetValue<string>() ?? "refused"} ({(int)response.StatusCode}): {problem?["detail"]?.GetValue<string>() ?? body}");
                    return 2;
                }

                var job = JsonNode.Parse(body)!;
                var id = job["requestId"]!.GetValue<string>();
                console.MarkupLineInterpolated($"Request [bold]{id}[/]. Its logs: [bold]shoppe logs {id}[/]");
                if (parse.GetValue(noWait))
                {
                    return 0;
                }

                var size = job["size"]?.GetValue<long>() ?? 0;
                JsonNode status = job;
                await console.Progress().AutoClear(false)
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new DownloadedColumn(), new TransferSpeedColumn())
                    .StartAsync(async progress =>
                    {
                        var task = progress.AddTask("copying", maxValue: Math.Max(1, size));
                        while (true)
                        {
                            status = JsonNode.Parse(await http.GetStringAsync($"/v1/transfers/{id}", cancellationToken))!;
                            task.Value = status["bytes"]!.GetValue<long>();
                            var state = status["state"]!.GetValue<string>();
                            task.Description = $"{state}, attempt {status["attempts"]}";
                            if (state is "done" or "failed")
                            {
                                task.StopTask();
                                return;
                            }

                            await Task.Delay(500, cancellationToken);
                        }
                    });
                if (status["state"]!.GetValue<string>() == "done")
                {
                    console.MarkupLineInterpolated($"[green]done[/]: {status["bytes"]} bytes after {status["attempts"]} attempt(s)");
                    return 0;
                }

                console.MarkupLineInterpolated($"[red]failed[/] after {status["attempts"]} attempt(s): {status["error"]?.GetValue<string>()}");
                return 1;
            }
            catch (HttpRequestException ex)
            {
                console.MarkupLineInterpolated($"[red]error:[/] cannot reach the transfer service at {http.BaseAddress}: {ex.Message}");
                return 1;
            }
        });
        return command;
    }
}
