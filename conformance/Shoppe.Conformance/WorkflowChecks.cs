using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Shoppe.Workflow.Pilots;

namespace Shoppe.Conformance;

/// <summary>The workflow service's checks: its document contract, and a workflow run end to end by a pilot.</summary>
public sealed partial class ConformanceSuite
{
    private async Task<string?> WorkflowCycleAsync(CancellationToken cancellationToken)
    {
        var token = facility.Token("conformance");
        var request = Request(HttpMethod.Post, "workflow", "/v1/workflows", token, $"conformance-{_runId}-cycle");
        request.Content = new StringContent("""
            { "works": [ { "name": "w", "action": "noop" } ],
              "jobs": [ { "name": "a", "work": "w", "after": ["b"] }, { "name": "b", "work": "w", "after": ["a"] } ] }
            """, Encoding.UTF8, "application/json");
        using var response = await SendAsync(request, cancellationToken);
        var body = await Body(response, cancellationToken);
        Require(response.StatusCode == HttpStatusCode.BadRequest, $"a cyclic document answered {(int)response.StatusCode}: {body}");
        Require(response.Content.Headers.ContentType?.MediaType == "application/problem+json", "the answer is not problem details");
        Require(JsonDocument.Parse(body).RootElement.TryGetProperty("element", out var element) && element.GetString()!.StartsWith("/jobs/", StringComparison.Ordinal),
            $"the problem does not name the job at fault: {body}");
        using var status = await SendAsync(Request(HttpMethod.Get, "workflow", $"/v1/workflows/conformance-{_runId}-cycle", token), cancellationToken);
        Require(status.StatusCode == HttpStatusCode.NotFound, $"the refused workflow exists anyway ({(int)status.StatusCode})");
        return null;
    }

    /// <summary>
    /// A small DAG (a fan-out, a fan-in that reads the fan-out's outputs, a branch that must be skipped) run by a pilot
    /// the suite starts with the conformance user's own token (so it takes only that user's jobs; the facility's own
    /// pilots may take them too), then the run's logs by the workflow's id: the service's records and a job's output.
    /// </summary>
    private async Task<string?> WorkflowEndToEndAsync(CancellationToken cancellationToken)
    {
        var token = facility.Token("conformance");
        var id = $"conformance-{_runId}-workflow";
        var marker = $"conformance-{_runId}-sum";
        var submit = Request(HttpMethod.Post, "workflow", "/v1/workflows", token, id);
        submit.Content = new StringContent($$"""
            {
              "name": "conformance",
              "works": [
                { "name": "part", "action": "command", "command": { "argv": ["sh", "-c", "echo n=${args.n} > $SHOPPE_OUTPUTS"] } },
                { "name": "sum", "action": "command", "after": ["part"],
                  "command": { "argv": ["sh", "-c", "echo {{marker}} $(( $1 + $2 + $3 ))", "sh", "${works.part.outputs.n}"] } },
                { "name": "never", "action": "noop", "when": { "work": "part", "is": "failed" } }
              ],
              "jobs": [ { "work": "part", "args": { "n": "1" } }, { "work": "part", "args": { "n": "2" } }, { "work": "part", "args": { "n": "3" } } ]
            }
            """, Encoding.UTF8, "application/json");
        using (var created = await SendAsync(submit, cancellationToken))
        {
            var body = await Body(created, cancellationToken);
            Require(created.StatusCode == HttpStatusCode.Created, $"submit answered {(int)created.StatusCode}: {body}");
        }

        progress.Report($"        workflow {id} submitted");
        using var stopPilot = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var pilot = new PilotRunner(new PilotOptions
        {
            Server = facility.Services["workflow"],
            Token = token,
            Cores = 2,
            WorkDirectory = Directory.CreateTempSubdirectory("shoppe-conformance-pilot-").FullName,
            LongPoll = TimeSpan.FromSeconds(2),
        });
        var running = pilot.RunAsync(stopPilot.Token);
        JsonElement status;
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        try
        {
            do
            {
                await Task.Delay(250, cancellationToken);
                using var poll = await SendAsync(Request(HttpMethod.Get, "workflow", $"/v1/workflows/{id}", token), cancellationToken);
                status = JsonDocument.Parse(await poll.Content.ReadAsStringAsync(cancellationToken)).RootElement.Clone();
            }
            while (status.GetProperty("state").GetString() == "running" && DateTime.UtcNow < deadline);
        }
        finally
        {
            await stopPilot.CancelAsync();
            try
            {
                await running;
            }
            catch (OperationCanceledException)
            {
                // Stopped.
            }
        }

        Require(status.GetProperty("state").GetString() == "succeeded", $"the workflow ended {status.GetProperty("state").GetString()}: {status}");
        var works = status.GetProperty("works").EnumerateArray().ToDictionary(w => w.GetProperty("name").GetString()!, w => w.GetProperty("state").GetString());
        Require(works["part"] == "succeeded" && works["sum"] == "succeeded" && works["never"] == "skipped", $"works ended {string.Join(", ", works.Select(w => $"{w.Key} {w.Value}"))}");

        var text = "";
        deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < deadline && !(text.Contains($"{marker} 6", StringComparison.Ordinal) && text.Contains($"Workflow {id} succeeded", StringComparison.Ordinal)))
        {
            using var page = await SendAsync(Request(HttpMethod.Get, "logs", $"/v1/requests/{id}/logs?limit=10000", token), cancellationToken);
            if (page.StatusCode == HttpStatusCode.OK)
            {
                using var json = JsonDocument.Parse(await page.Content.ReadAsStringAsync(cancellationToken));
                text = string.Join('\n', json.RootElement.GetProperty("records").EnumerateArray().Select(r => r.GetProperty("message").GetString()));
            }

            await Task.Delay(500, cancellationToken);
        }

        Require(text.Contains($"{marker} 6", StringComparison.Ordinal), "the fan-in job's output (the sum of the fan-out's outputs, 6) is not in the workflow's logs");
        Require(text.Contains($"Workflow {id} succeeded", StringComparison.Ordinal), "the workflow's end is not in its logs");
        return string.Create(CultureInfo.InvariantCulture, $"workflow {id}: 3 jobs fanned in, outputs passed on, a branch skipped; its logs hold the jobs' output");
    }
}
