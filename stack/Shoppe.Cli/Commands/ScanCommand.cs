using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Shoppe.Columnar.Io;
using Shoppe.Pushdown.Client;
using Spectre.Console;

namespace Shoppe.Cli.Commands;

/// <summary>
/// <c>shoppe scan --dataset ... --columns ... [--filter ...] [--join ...] --out FILE</c>: a scan on a pushdown node
/// (docs/pushdown.md), its Arrow stream written to Parquet or an Arrow file as it arrives, with live progress and a
/// summary (events read and passed, row groups pruned, bytes received, the first batch's time, the request id).
/// Exit code 0 when the scan finished, 1 when it failed midway (the node's reason printed), 2 for a refused scan.
/// </summary>
internal static class ScanCommand
{
    public const string DefaultPushdownUrl = "http://127.0.0.1:5105";

    public static Command Build(IAnsiConsole console, HttpMessageHandler? handler, CliSettings settings)
    {
        var dataset = new Option<string[]>("--dataset", "-d") { Description = "A dataset the node names, or paths under its storage (repeat, or separate with commas).", Required = true, AllowMultipleArgumentsPerToken = true };
        var columns = new Option<string[]>("--columns", "-c") { Description = "Columns or expressions, e.g. MET_pt 'Jet_pt[Jet_pt > 40]' (repeat, or separate with commas).", Required = true, AllowMultipleArgumentsPerToken = true };
        var filter = new Option<string?>("--filter", "-f") { Description = "Keep only events where this is true, e.g. 'count(Jet_pt > 40) >= 2'." };
        var join = new Option<string[]>("--join", "-j") { Description = "A dataset of extra columns aligned on (run, luminosityBlock, event): a name, or paths separated by commas (repeat for several).", AllowMultipleArgumentsPerToken = false };
        var output = new Option<string>("--out", "-o") { Description = "The file to write (Parquet by default).", Required = true };
        var format = new Option<string>("--format") { Description = "parquet (default) or arrow (an Arrow IPC file).", DefaultValueFactory = _ => "parquet" };
        var url = new Option<string?>("--url") { Description = $"The pushdown node (default: $SHOPPE_PUSHDOWN_URL, else the running facility's, else {DefaultPushdownUrl})." };
        var token = new Option<string?>("--token") { Description = "Your token (default: $SHOPPE_TOKEN or the saved token)." };

        var command = new Command("scan", "Scan a dataset beside the data: selected columns of the passing events, streamed as Arrow.") { dataset, columns, filter, join, output, format, url, token };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var kind = parse.GetValue(format)!.ToLowerInvariant();
            if (kind is not ("parquet" or "arrow"))
            {
                console.MarkupLineInterpolated($"[red]error:[/] '{kind}' is not an output format; use parquet or arrow.");
                return 2;
            }

            using var http = settings.CreateClient(console, handler, parse.GetValue(url), "SHOPPE_PUSHDOWN_URL", "pushdown", DefaultPushdownUrl, parse.GetValue(token), Timeout.InfiniteTimeSpan);
            if (http is null)
            {
                return 2;
            }

            var joined = (parse.GetValue(join) ?? []).Select(j => Dataset(DeliverCommand.Split([j]))).ToList();
            var request = new ScanRequest(Dataset(DeliverCommand.Split(parse.GetValue(dataset))), DeliverCommand.Split(parse.GetValue(columns)), parse.GetValue(filter), joined.Count == 0 ? null : joined);
            try
            {
                return await RunAsync(console, new PushdownClient(http), request, parse.GetValue(output)!, kind == "arrow" ? OutputFormat.Arrow : OutputFormat.Parquet, cancellationToken);
            }
            catch (PushdownException ex)
            {
                DeliverCommand.PrintProblem(console, ex.Status, ex.Body ?? ex.Message);
                return 2;
            }
            catch (HttpRequestException ex) when (ex.StatusCode is null)
            {
                console.MarkupLineInterpolated($"[red]error:[/] cannot reach the pushdown node at {http.BaseAddress}: {ex.Message}");
                return 1;
            }
        });
        return command;
    }

    /// <summary>One name stays a name; anything with a slash, or several entries, is a list of paths.</summary>
    private static JsonElement Dataset(string[] entries) => entries.Length == 1 && !entries[0].Contains('/', StringComparison.Ordinal)
        ? JsonSerializer.SerializeToElement(entries[0], PushdownJsonContext.Default.String)
        : JsonSerializer.SerializeToElement(entries, PushdownJsonContext.Default.StringArray);

    private static async Task<int> RunAsync(IAnsiConsole console, PushdownClient client, ScanRequest request, string output, OutputFormat format, CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        using var reader = await client.ScanAsync(request, cancellationToken);
        console.MarkupLineInterpolated($"Scan [bold]{reader.RequestId}[/]. Its logs: [bold]shoppe logs {reader.RequestId}[/]");
        ColumnarWriter? writer = null;
        long rows = 0, batches = 0;
        double? first = null;
        string? failure = null;
        try
        {
            await console.Status().StartAsync("scanning", async status =>
            {
                try
                {
                    while (await reader.ReadNextAsync(cancellationToken) is { } batch)
                    {
                        using (batch)
                        {
                            first ??= watch.Elapsed.TotalMilliseconds;
                            writer ??= new ColumnarWriter(output, batch.Schema, format);
                            writer.Write(batch);
                            rows += batch.Length;
                            batches++;
                            var seconds = Math.Max(watch.Elapsed.TotalSeconds, 1e-3);
                            status.Status($"{rows:N0} events, {batches:N0} batches, {reader.BytesReceived / 1e6:F1} MB ({reader.BytesReceived / 1e6 / seconds:F1} MB/s)");
                        }
                    }

                    writer ??= new ColumnarWriter(output, reader.Schema, format);
                    writer.Commit();
                }
                catch (Exception ex) when (ex is IOException or HttpRequestException)
                {
                    failure = ex.Message; // the node broke the stream off: its status says why
                }
            });
        }
        finally
        {
            writer?.Dispose();
        }

        ScanStatus? scan = null;
        try
        {
            scan = await client.StatusAsync(reader.ScanId!, cancellationToken);
        }
        catch (PushdownException)
        {
            // statuses are kept a while; the summary below does without
        }

        if (failure is not null || scan?.State == "failed")
        {
            console.MarkupLineInterpolated($"[red]failed:[/] {scan?.Error ?? failure} ({rows:N0} events received before; nothing written to {output}).");
            return 1;
        }

        console.MarkupLineInterpolated($"finished: {rows:N0} events written to {output} ({batches:N0} batches, {reader.BytesReceived / 1e6:F1} MB received in {watch.Elapsed.TotalSeconds:F1} s, first batch after {first ?? 0:F0} ms)");
        if (scan is not null)
        {
            console.MarkupLineInterpolated($"the node read {scan.EventsScanned:N0} events of {scan.Files} file(s); {scan.RowGroupsPruned} of {scan.RowGroups} row groups pruned by their statistics, {scan.RowGroupsSkipped} skipped after the filter");
        }

        return 0;
    }
}
