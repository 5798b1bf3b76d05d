using System.CommandLine;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace Shoppe.Cli.Commands;

/// <summary>
/// <c>shoppe deliver --dataset ... --columns ... [--filter ...] --out DIR</c>: submits a transform to the delivery
/// service, shows its progress live, downloads every output file into DIR, and prints the request id for
/// <c>shoppe logs</c>. Exit code 0 when every file was delivered, 1 when some failed, 2 for a refused request.
/// </summary>
internal static class DeliverCommand
{
    public const string DefaultDeliveryUrl = "http://127.0.0.1:5101";

    public static Command Build(IAnsiConsole console, HttpMessageHandler? handler, CliSettings settings)
    {
        var dataset = new Option<string[]>("--dataset", "-d") { Description = "A dataset name the facility configures, or file URLs/paths (repeat, or separate with commas).", Required = true, AllowMultipleArgumentsPerToken = true };
        var columns = new Option<string[]>("--columns", "-c") { Description = "Columns or expressions to deliver, e.g. MET_pt 'Muon_pt[Muon_pt > 20]' 'ht = sum(Jet_pt)' (repeat, or separate with commas).", Required = true, AllowMultipleArgumentsPerToken = true };
        var filter = new Option<string?>("--filter", "-f") { Description = "Keep only events where this is true, e.g. 'nMuon >= 2 && MET_pt > 30'." };
        var format = new Option<string>("--format") { Description = "parquet (default) or arrow.", DefaultValueFactory = _ => "parquet" };
        var output = new Option<string?>("--out", "-o") { Description = "Download the outputs into this directory (created if needed)." };
        var title = new Option<string?>("--title") { Description = "A title for the portal's list of your requests." };
        var noWait = new Option<bool>("--no-wait") { Description = "Submit, print the request id, and return." };
        var url = new Option<string?>("--url") { Description = $"The delivery service (default: $SHOPPE_DELIVERY_URL, else the running facility's, else {DefaultDeliveryUrl})." };
        var token = new Option<string?>("--token") { Description = "Your token (default: $SHOPPE_TOKEN or the saved token)." };

        var command = new Command("deliver", "Deliver columns of a dataset, filtered, with live progress.") { dataset, columns, filter, format, output, title, noWait, url, token };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var http = settings.CreateClient(console, handler, parse.GetValue(url), "SHOPPE_DELIVERY_URL", "delivery", DefaultDeliveryUrl, parse.GetValue(token), TimeSpan.FromMinutes(10));
            if (http is null)
            {
                return 2;
            }

            var datasets = Split(parse.GetValue(dataset));
            var request = new JsonObject
            {
                ["dataset"] = datasets.Length == 1 && !datasets[0].Contains('/', StringComparison.Ordinal) ? datasets[0] : new JsonArray([.. datasets.Select(d => JsonValue.Create(d))]),
                ["columns"] = new JsonArray([.. Split(parse.GetValue(columns)).Select(c => JsonValue.Create(c))]),
                ["filter"] = parse.GetValue(filter),
                ["title"] = parse.GetValue(title),
                ["output"] = new JsonObject { ["format"] = parse.GetValue(format) },
            };
            try
            {
                return await RunAsync(console, http, request, parse.GetValue(output), parse.GetValue(noWait), cancellationToken);
            }
            catch (HttpRequestException ex)
            {
                console.MarkupLineInterpolated($"[red]error:[/] cannot reach the delivery service at {http.BaseAddress}: {ex.Message}");
                return 1;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                console.MarkupLine("Stopped waiting; the transform goes on (see [bold]shoppe logs[/] with its request id).");
                return 130;
            }
        });
        return command;
    }

    /// <summary>Values given repeatedly or comma-separated (commas inside brackets or parentheses stay: <c>max(a, b)</c>).</summary>
    internal static string[] Split(string[]? values)
    {
        var result = new List<string>();
        foreach (var value in values ?? [])
        {
            var depth = 0;
            var start = 0;
            for (var i = 0; i <= value.Length; i++)
            {
                if (i == value.Length || (value[i] == ',' && depth == 0))
                {
                    var part = value[start..i].Trim();
                    if (part.Length > 0)
                    {
                        result.Add(part);
                    }

                    start = i + 1;
                }
                else if (value[i] is '(' or '[')
                {
                    depth++;
                }
                else if (value[i] is ')' or ']')
                {
                    depth--;
                }
            }
        }

        return [.. result];
    }

    private static async Task<int> RunAsync(IAnsiConsole console, HttpClient http, JsonObject request, string? outputDirectory, bool noWait, CancellationToken cancellationToken)
    {
        using var response = await http.PostAsJsonAsync("/v1/transforms", request, cancellationToken);
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            PrintProblem(console, (int)response.StatusCode, body);
            return 2;
        }

        var created = JsonNode.Parse(body)!;
        var id = created["requestId"]!.GetValue<string>();
        var total = created["filesTotal"]!.GetValue<int>();
        console.MarkupLineInterpolated($"Request [bold]{id}[/]: {total} file(s). Its logs: [bold]shoppe logs {id}[/]");
        if (noWait)
        {
            return 0;
        }

        var status = await FollowAsync(console, http, id, total, cancellationToken);
        var state = status["state"]!.GetValue<string>();
        var files = JsonNode.Parse(await http.GetStringAsync($"/v1/transforms/{id}/files", cancellationToken))!.AsArray();
        if (outputDirectory is not null)
        {
            await DownloadAsync(console, http, files, outputDirectory, cancellationToken);
        }

        Summarize(console, status, files, outputDirectory);
        return state == "complete" ? 0 : 1;
    }

    private static bool IsFinished(JsonNode status) => status["state"]!.GetValue<string>() is "complete" or "partial" or "failed" or "cancelled";

    private static string Describe(JsonNode status, int total)
    {
        var done = status["filesDone"]!.GetValue<int>();
        var failed = status["filesFailed"]!.GetValue<int>();
        return $"files {done}/{total}{(failed > 0 ? $" ({failed} failed)" : "")}, {status["eventsIn"]!.GetValue<long>():N0} events read, {status["eventsOut"]!.GetValue<long>():N0} kept";
    }

    private static async Task<JsonNode> FollowAsync(IAnsiConsole console, HttpClient http, string id, int total, CancellationToken cancellationToken)
    {
        JsonNode status = null!;
        if (!console.Profile.Capabilities.Interactive)
        {
            // Not a terminal (a pipe, a CI log): a line at each change instead of a redrawn bar.
            string? last = null;
            while (true)
            {
                status = JsonNode.Parse(await http.GetStringAsync($"/v1/transforms/{id}", cancellationToken))!;
                var line = Describe(status, total);
                if (line != last)
                {
                    console.WriteLine(line);
                    last = line;
                }

                if (IsFinished(status))
                {
                    return status;
                }

                await Task.Delay(500, cancellationToken);
            }
        }

        await console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .StartAsync(async progress =>
            {
                var files = progress.AddTask($"files 0/{total}", maxValue: Math.Max(1, total));
                while (true)
                {
                    status = JsonNode.Parse(await http.GetStringAsync($"/v1/transforms/{id}", cancellationToken))!;
                    files.Value = status["filesDone"]!.GetValue<int>() + status["filesFailed"]!.GetValue<int>();
                    files.Description = Markup.Escape(Describe(status, total));
                    if (IsFinished(status))
                    {
                        files.StopTask();
                        return;
                    }

                    await Task.Delay(500, cancellationToken);
                }
            });
        return status;
    }

    private static async Task DownloadAsync(IAnsiConsole console, HttpClient http, JsonArray files, string outputDirectory, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(outputDirectory);
        var ready = files.Where(f => f!["url"] is not null).ToList();
        if (!console.Profile.Capabilities.Interactive)
        {
            console.WriteLine($"downloading {ready.Count} file(s) into {outputDirectory}");
        }

        await console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new DownloadedColumn(), new TransferSpeedColumn())
            .StartAsync(async progress =>
            {
                var task = progress.AddTask($"downloading {ready.Count} file(s)", maxValue: Math.Max(1, ready.Sum(f => f!["bytesOut"]!.GetValue<long>())));
                foreach (var file in ready)
                {
                    // The name is the service's; only its last segment is used, so it cannot leave the directory.
                    var name = Path.GetFileName(file!["output"]!.GetValue<string>());
                    var target = Path.Combine(outputDirectory, name);
                    using var response = await http.GetAsync(file["url"]!.GetValue<string>(), HttpCompletionOption.ResponseHeadersRead, cancellationToken);
                    response.EnsureSuccessStatusCode();
                    await using (var source = await response.Content.ReadAsStreamAsync(cancellationToken))
                    await using (var sink = new FileStream(target + ".partial", FileMode.Create, FileAccess.Write))
                    {
                        var buffer = new byte[1 << 16];
                        int n;
                        while ((n = await source.ReadAsync(buffer, cancellationToken)) > 0)
                        {
                            await sink.WriteAsync(buffer.AsMemory(0, n), cancellationToken);
                            task.Increment(n);
                        }
                    }

                    File.Move(target + ".partial", target, overwrite: true);
                }

                task.StopTask();
            });
    }

    private static void Summarize(IAnsiConsole console, JsonNode status, JsonArray files, string? outputDirectory)
    {
        var state = status["state"]!.GetValue<string>();
        var colour = state == "complete" ? "green" : "red";
        console.MarkupLineInterpolated($"[{colour}]{state}[/]: {status["filesDone"]} of {status["filesTotal"]} files, {status["eventsIn"]!.GetValue<long>():N0} events read, {status["eventsOut"]!.GetValue<long>():N0} delivered in {status["elapsedSeconds"]?.GetValue<double>() ?? 0:0.0} s{(outputDirectory is null ? "" : $", into {outputDirectory}")}");
        var failures = files.Where(f => f!["state"]!.GetValue<string>() == "failed").ToList();
        if (failures.Count > 0)
        {
            var table = new Table().AddColumns("file", "input", "error");
            foreach (var f in failures.Take(20))
            {
                table.AddRow(Markup.Escape(f!["index"]!.ToString()), Markup.Escape(f["input"]!.GetValue<string>()), Markup.Escape(f["error"]?.GetValue<string>() ?? ""));
            }

            console.Write(table);
        }

        console.MarkupLineInterpolated($"Logs: shoppe logs {status["requestId"]!.GetValue<string>()}");
    }

    internal static void PrintProblem(IAnsiConsole console, int status, string body)
    {
        try
        {
            var problem = JsonNode.Parse(body);
            console.MarkupLineInterpolated($"[red]error:[/] {problem?["title"]?.GetValue<string>() ?? "refused"} ({status}): {problem?["detail"]?.GetValue<string>() ?? body}");
            if (problem?["expression"]?.GetValue<string>() is { Length: > 0 } expression && problem["position"]?.GetValue<int>() is { } position)
            {
                // Point at the character, under the expression, as a compiler does.
                console.WriteLine("  " + expression);
                console.WriteLine("  " + new string(' ', Math.Clamp(position - 1, 0, expression.Length)) + "^");
            }
        }
        catch (JsonException)
        {
            console.MarkupLineInterpolated($"[red]error:[/] the service answered {status}: {(body.Length == 0 ? "(no body)" : body)}");
        }
    }
}
