using System.CommandLine;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace Shoppe.Cli.Commands;

/// <summary>
/// <c>shoppe workflow submit|status|watch|retry|abort|suspend|resume</c>: workflows on the workflow service, with a
/// live display of counts per work. Exit codes: 0 done (or succeeded, when waited for), 1 the workflow failed, 2 refused.
/// </summary>
internal static class WorkflowCommand
{
    public static Command Build(IAnsiConsole console, HttpMessageHandler? handler, CliSettings settings)
    {
        var url = new Option<string?>("--url") { Description = $"The workflow service (default: $SHOPPE_WORKFLOW_URL, else the running facility's, else {PilotCommand.DefaultWorkflowUrl})." };
        var token = new Option<string?>("--token") { Description = "Your token (default: $SHOPPE_TOKEN or the saved token)." };
        HttpClient? Client(ParseResult parse) =>
            settings.CreateClient(console, handler, parse.GetValue(url), "SHOPPE_WORKFLOW_URL", "workflow", PilotCommand.DefaultWorkflowUrl, parse.GetValue(token), TimeSpan.FromMinutes(30));

        var file = new Argument<FileInfo>("file") { Description = "The workflow document: JSON, or YAML (.yaml/.yml)." };
        var watch = new Option<bool>("--watch") { Description = "Follow it until it ends, with live counts." };
        var submit = new Command("submit", "Submit a workflow document.") { file, watch, url, token };
        submit.SetAction(async (parse, cancellationToken) =>
        {
            using var http = Client(parse);
            if (http is null)
            {
                return 2;
            }

            var path = parse.GetValue(file)!;
            if (!path.Exists)
            {
                console.MarkupLineInterpolated($"[red]error:[/] {path.FullName} does not exist.");
                return 2;
            }

            await using var stream = path.OpenRead();
            using var content = new StreamContent(stream);
            content.Headers.ContentType = new MediaTypeHeaderValue(path.Extension is ".yaml" or ".yml" ? "application/yaml" : "application/json");
            using var response = await http.PostAsync("/v1/workflows", content, cancellationToken);
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                return Refused(console, response, body);
            }

            var status = JsonNode.Parse(body)!;
            var id = status["id"]!.GetValue<string>();
            console.MarkupLineInterpolated($"Workflow [bold]{id}[/]: {status["jobs"]?["total"]} jobs. Its logs: [bold]shoppe logs {id}[/]");
            return parse.GetValue(watch) ? await WatchAsync(console, http, id, cancellationToken) : 0;
        });

        var id = new Argument<string>("id") { Description = "The workflow's request id." };
        var status = new Command("status", "A workflow's state, counts per work, collections and critical path.") { id, url, token };
        status.SetAction(async (parse, cancellationToken) =>
        {
            using var http = Client(parse);
            if (http is null)
            {
                return 2;
            }

            using var response = await http.GetAsync($"/v1/workflows/{Uri.EscapeDataString(parse.GetValue(id)!)}", cancellationToken);
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                return Refused(console, response, body);
            }

            var node = JsonNode.Parse(body)!;
            console.Write(Table(node));
            if (node["criticalPath"] is JsonObject path)
            {
                console.MarkupLineInterpolated($"Critical path: {string.Join(" → ", path["works"]!.AsArray().Select(w => w!.GetValue<string>()))} ({path["seconds"]} s)");
            }

            return 0;
        });

        var watchCommand = new Command("watch", "Follow a workflow until it ends, with live counts per work.") { id, url, token };
        watchCommand.SetAction(async (parse, cancellationToken) =>
        {
            using var http = Client(parse);
            return http is null ? 2 : await WatchAsync(console, http, parse.GetValue(id)!, cancellationToken);
        });

        var collection = new Argument<string>("collection") { Description = "The collection's name." };
        var files = new Argument<string[]>("files") { Description = "Files that arrived (names or URLs).", Arity = ArgumentArity.ZeroOrMore };
        var close = new Option<bool>("--close") { Description = "Then close the collection's input: no more files will arrive." };
        var filesCommand = new Command("files", "Tell a workflow's collection that files arrived (and, with --close, that no more will).") { id, collection, files, close, url, token };
        filesCommand.SetAction(async (parse, cancellationToken) =>
        {
            using var http = Client(parse);
            if (http is null)
            {
                return 2;
            }

            var path = $"/v1/workflows/{Uri.EscapeDataString(parse.GetValue(id)!)}/collections/{Uri.EscapeDataString(parse.GetValue(collection)!)}";
            var names = parse.GetValue(files) ?? [];
            if (names.Length > 0)
            {
                using var added = await http.PostAsync($"{path}/files", JsonContent.Create(new JsonObject { ["files"] = new JsonArray([.. names.Select(n => JsonValue.Create(n))]) }), cancellationToken);
                var body = await added.Content.ReadAsStringAsync(cancellationToken);
                if (!added.IsSuccessStatusCode)
                {
                    return Refused(console, added, body);
                }

                console.MarkupLineInterpolated($"{JsonNode.Parse(body)!["added"]} new of {names.Length} files.");
            }

            if (parse.GetValue(close))
            {
                using var closed = await http.PostAsync($"{path}/close", null, cancellationToken);
                if (!closed.IsSuccessStatusCode)
                {
                    return Refused(console, closed, await closed.Content.ReadAsStringAsync(cancellationToken));
                }

                console.MarkupLine("Input closed.");
            }

            return 0;
        });

        var root = new Command("workflow", "Submit, follow and control workflows (DAGs of jobs run by pilots, data-carousel collections).")
        {
            submit, status, watchCommand, filesCommand,
            Control("retry", "Run a workflow's failed (and skipped, aborted) jobs again."),
            Control("abort", "Abort a workflow: its running jobs are stopped."),
            Control("suspend", "Start no new job of a workflow (running ones finish)."),
            Control("resume", "Let a suspended workflow go on."),
        };
        return root;

        Command Control(string action, string description)
        {
            var command = new Command(action, description) { id, url, token };
            command.SetAction(async (parse, cancellationToken) =>
            {
                using var http = Client(parse);
                if (http is null)
                {
                    return 2;
                }

                using var response = await http.PostAsync($"/v1/workflows/{Uri.EscapeDataString(parse.GetValue(id)!)}/{action}", null, cancellationToken);
                var body = await response.Content.ReadAsStringAsync(cancellationToken);
                if (!response.IsSuccessStatusCode)
                {
                    return Refused(console, response, body);
                }

                console.MarkupLineInterpolated($"Workflow [bold]{parse.GetValue(id)}[/] is {JsonNode.Parse(body)!["state"]}.");
                return 0;
            });
            return command;
        }
    }

    private static async Task<int> WatchAsync(IAnsiConsole console, HttpClient http, string id, CancellationToken cancellationToken)
    {
        JsonNode node = new JsonObject();
        await console.Live(new Text("…")).AutoClear(false).StartAsync(async live =>
        {
            while (true)
            {
                node = JsonNode.Parse(await http.GetStringAsync($"/v1/workflows/{Uri.EscapeDataString(id)}", cancellationToken))!;
                live.UpdateTarget(Table(node));
                if (node["state"]!.GetValue<string>() is "succeeded" or "failed" or "aborted")
                {
                    return;
                }

                await Task.Delay(1000, cancellationToken);
            }
        });
        var state = node["state"]!.GetValue<string>();
        console.MarkupLineInterpolated($"Workflow [bold]{id}[/] {state}.");
        return state == "succeeded" ? 0 : 1;
    }

    private static Table Table(JsonNode node)
    {
        var states = new[] { "waiting", "ready", "held", "running", "succeeded", "failed", "skipped", "aborted" };
        var table = new Table().Title(Markup.Escape($"{node["id"]} — {node["name"]} — {node["state"]}")).AddColumn("work").AddColumn("state");
        foreach (var s in states)
        {
            table.AddColumn(new TableColumn(s).RightAligned());
        }

        foreach (var work in node["works"]!.AsArray())
        {
            var jobs = work!["jobs"]!.AsObject();
            table.AddRow([Markup.Escape(work["name"]!.GetValue<string>()), Markup.Escape(work["state"]!.GetValue<string>()),
                .. states.Select(s => jobs[s]?.ToString() ?? "")]);
        }

        foreach (var collection in node["collections"]!.AsArray())
        {
            table.Caption = new TableTitle($"{table.Caption?.Text}{Markup.Escape(collection!["name"]!.GetValue<string>())}: {collection["arrived"]} arrived, {collection["processed"]} processed, {collection["failed"]} failed, input {(collection["inputClosed"]!.GetValue<bool>() ? "closed" : "open")}. ");
        }

        return table;
    }

    private static int Refused(IAnsiConsole console, HttpResponseMessage response, string body)
    {
        JsonNode? problem = null;
        try
        {
            problem = JsonNode.Parse(body);
        }
        catch (System.Text.Json.JsonException)
        {
            // Not problem details: the raw answer is shown.
        }

        console.MarkupLineInterpolated($"[red]error:[/] {problem?["title"]?.GetValue<string>() ?? "refused"} ({(int)response.StatusCode}): {problem?["detail"]?.GetValue<string>() ?? body}");
        return 2;
    }
}
