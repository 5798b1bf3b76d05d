using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Shoppe.Security;
using Shoppe.ServiceDefaults.RequestIds;
using Shoppe.Workflow.Documents;
using Shoppe.Workflow.Pilots;
using Shoppe.Workflow.Scheduling;
using Shoppe.Workflow.State;

namespace Shoppe.Workflow.Actions;

/// <summary>
/// Runs the jobs the service does itself, leased like any pilot's: a <c>delivery</c> transform and a <c>transfer</c>
/// copy on those services as the workflow's owner (a short-lived token for the owner, the job's request id on the
/// call), and a <c>workflow</c> job's sub-workflow. Each job waits for what it started to end; if this instance
/// dies, the lease expires and another instance takes the job over, finding the transform or sub-workflow already
/// there under the job's request id.
/// </summary>
internal sealed partial class ServiceActions(Engine engine, IHttpClientFactory http, ShoppeSecurityOptions security, IOptions<WorkflowOptions> options,
    TimeProvider time, ILogger<ServiceActions> logger) : BackgroundService
{
    private const int Concurrency = 64;
    private readonly string _pilot = $"service-{Environment.MachineName}-{Environment.ProcessId}";
    private readonly ConcurrentDictionary<string, JobLease> _running = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<JobResult> _results = new();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var heartbeat = TimeSpan.FromSeconds(Math.Max(0.2, options.Value.Lease.TotalSeconds / 3));
        var last = DateTime.UtcNow;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var results = new List<JobResult>();
                while (_results.TryDequeue(out var r))
                {
                    results.Add(r);
                }

                if (results.Count > 0 || DateTime.UtcNow - last > heartbeat)
                {
                    var answer = await engine.ExchangeAsync(new PilotExchange(_pilot, 0, _running.Values.ToList(), results), null, stoppingToken);
                    last = DateTime.UtcNow;
                    foreach (var lost in answer.Stop)
                    {
                        _running.TryRemove(lost.Id, out _);
                    }
                }

                var free = Concurrency - _running.Count;
                foreach (var job in await engine.ClaimAsync(Runners.Service, free, _pilot, null, stoppingToken))
                {
                    var workflow = await engine.LoadAsync(job.Key, stoppingToken);
                    var id = Engine.JobId(workflow.Id, job.Index);
                    _running[id] = new JobLease(id, job.Attempt);
                    _ = Task.Run(() => RunAsync(workflow, job, id, stoppingToken), stoppingToken);
                }

                var wait = engine.JobsReady;
                await Task.WhenAny(wait, Task.Delay(250, stoppingToken));
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex) when (ex is System.Data.Common.DbException or InvalidOperationException)
            {
                LogLoopFailed(logger, ex);
                await Task.Delay(1000, stoppingToken);
            }
        }
    }

    private async Task RunAsync(Engine.Loaded workflow, Engine.ClaimedJob job, string id, CancellationToken cancellationToken)
    {
        using var requestId = RequestId.BeginScope(id);
        using var scope = engine.WorkflowScope(workflow);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        JobResult result;
        try
        {
            var work = workflow.Plan.Works[job.Work];
            var resolve = await engine.ResolverAsync(workflow, job, cancellationToken);
            var outputs = work.Spec.Action switch
            {
                "delivery" => await DeliverAsync(workflow, work, id, resolve, cancellationToken),
                "transfer" => await TransferAsync(workflow, work, id, resolve, cancellationToken),
                _ => await SubWorkflowAsync(workflow, work, job, id, cancellationToken),
            };
            result = new JobResult(id, job.Attempt, outputs.Ok, outputs.Ok ? 0 : 1, outputs.Error, outputs.Values, clock.Elapsed.TotalSeconds);
        }
        catch (Exception ex) when (ex is HttpRequestException or InvalidOperationException or JsonException or WorkflowDocumentException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            result = new JobResult(id, job.Attempt, false, null, ex.Message, null, clock.Elapsed.TotalSeconds);
        }

        if (_running.TryRemove(id, out _))
        {
            _results.Enqueue(result);
            engine.SignalReady();
        }
    }

    private sealed record Outcome(bool Ok, string? Error, Dictionary<string, string>? Values);

    private HttpClient Client(Uri? baseUrl, string owner, string what)
    {
        var client = http.CreateClient("workflow-actions");
        client.BaseAddress = baseUrl ?? throw new InvalidOperationException($"Workflow:{what}Url is not set: this facility runs no {what.ToLowerInvariant()} service for workflows.");
        var token = new TokenIssuer(security, time).Issue(owner, [], TimeSpan.FromHours(12));
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    private async Task<Outcome> DeliverAsync(Engine.Loaded workflow, PlannedWork work, string id, Func<string, IReadOnlyList<string>> resolve, CancellationToken cancellationToken)
    {
        using var client = Client(options.Value.DeliveryUrl, workflow.Owner, "Delivery");
        var body = Expand(work.Spec.Delivery!.Value, resolve);
        using (var request = new HttpRequestMessage(HttpMethod.Post, "/v1/transforms") { Content = new StringContent(body, Encoding.UTF8, "application/json") })
        {
            request.Headers.Add(RequestId.HeaderName, id);
            using var response = await client.SendAsync(request, cancellationToken);
            if (response.StatusCode != HttpStatusCode.Conflict && !response.IsSuccessStatusCode)
            {
                return new Outcome(false, $"the delivery service refused the transform ({(int)response.StatusCode}): {await response.Content.ReadAsStringAsync(cancellationToken)}", null);
            }
        }

        while (true)
        {
            using var status = JsonDocument.Parse(await client.GetStringAsync($"/v1/transforms/{id}", cancellationToken));
            var state = status.RootElement.GetProperty("state").GetString();
            if (state is "complete" or "partial" or "failed" or "cancelled")
            {
                var values = new Dictionary<string, string>(StringComparer.Ordinal) { ["transform"] = id, ["state"] = state };
                // Where the outputs are, and how many events passed: for later works (${works.W.outputs.destination}).
                if (status.RootElement.TryGetProperty("destination", out var destination) && destination.ValueKind == JsonValueKind.String)
                {
                    values["destination"] = destination.GetString()!;
                }

                if (status.RootElement.TryGetProperty("eventsOut", out var events) && events.ValueKind == JsonValueKind.Number)
                {
                    values["eventsOut"] = events.GetRawText();
                }

                return new Outcome(state == "complete", state == "complete" ? null : $"the transform ended {state}", values);
            }

            await Task.Delay(500, cancellationToken);
        }
    }

    private async Task<Outcome> TransferAsync(Engine.Loaded workflow, PlannedWork work, string id, Func<string, IReadOnlyList<string>> resolve, CancellationToken cancellationToken)
    {
        using var client = Client(options.Value.TransferUrl, workflow.Owner, "Transfer");
        var spec = work.Spec.Transfer!;
        var copy = new Dictionary<string, string>
        {
            ["source"] = Template.Expand(spec.Source!, resolve),
            ["destination"] = Template.Expand(spec.Destination!, resolve),
        };
        // On the facility's own storage (the transfer service's), the copy carries the owner's WLCG-scoped tokens:
        // read where it reads, create and modify in the folder it writes.
        if (Uri.TryCreate(copy["source"], UriKind.Absolute, out var source) && SameAuthority(source, client.BaseAddress!))
        {
            copy["sourceToken"] = new TokenIssuer(security, time).Issue(workflow.Owner, [], TimeSpan.FromHours(12), $"storage.read:{Folder(source)}");
        }

        if (Uri.TryCreate(copy["destination"], UriKind.Absolute, out var destination) && SameAuthority(destination, client.BaseAddress!))
        {
            var folder = Folder(destination);
            copy["destinationToken"] = new TokenIssuer(security, time).Issue(workflow.Owner, [], TimeSpan.FromHours(12), $"storage.create:{folder} storage.modify:{folder}");
        }

        var body = JsonSerializer.Serialize(copy, DocumentJsonContext.Default.DictionaryStringString);
        using (var request = new HttpRequestMessage(HttpMethod.Post, "/v1/transfers") { Content = new StringContent(body, Encoding.UTF8, "application/json") })
        {
            request.Headers.Add(RequestId.HeaderName, id);
            using var response = await client.SendAsync(request, cancellationToken);
            if (response.StatusCode != HttpStatusCode.Conflict && !response.IsSuccessStatusCode)
            {
                return new Outcome(false, $"the transfer service refused the copy ({(int)response.StatusCode}): {await response.Content.ReadAsStringAsync(cancellationToken)}", null);
            }
        }

        while (true)
        {
            using var status = JsonDocument.Parse(await client.GetStringAsync($"/v1/transfers/{id}", cancellationToken));
            var state = status.RootElement.GetProperty("state").GetString();
            if (state is "done" or "failed")
            {
                var error = status.RootElement.TryGetProperty("error", out var e) ? e.GetString() : null;
                return new Outcome(state == "done", state == "done" ? null : $"the copy failed: {error}", new Dictionary<string, string>(StringComparer.Ordinal) { ["transfer"] = id });
            }

            await Task.Delay(500, cancellationToken);
        }
    }

    private static bool SameAuthority(Uri a, Uri b) => string.Equals(a.GetLeftPart(UriPartial.Authority), b.GetLeftPart(UriPartial.Authority), StringComparison.OrdinalIgnoreCase);

    private static string Folder(Uri file)
    {
        var path = Uri.UnescapeDataString(file.AbsolutePath);
        var slash = path.LastIndexOf('/');
        return slash <= 0 ? "/" : path[..slash];
    }

    /// <summary>A sub-workflow under the job's request id (so its jobs' ids descend from the job's), then its end.</summary>
    private async Task<Outcome> SubWorkflowAsync(Engine.Loaded workflow, PlannedWork work, Engine.ClaimedJob job, string id, CancellationToken cancellationToken)
    {
        if (await engine.LoadAsync(id, cancellationToken) is null)
        {
            var document = work.Spec.Workflow!.Value;
            if (job.Args is not null)
            {
                // The job's args become the sub-workflow's parameters (over the ones its document gives).
                var node = System.Text.Json.Nodes.JsonNode.Parse(document.GetRawText())!.AsObject();
                var parameters = node["parameters"] as System.Text.Json.Nodes.JsonObject ?? [];
                foreach (var (k, v) in JsonSerializer.Deserialize(job.Args, DocumentJsonContext.Default.DictionaryStringString)!)
                {
                    parameters[k] = v;
                }

                node["parameters"] = parameters.Parent is null ? parameters : parameters.DeepClone();
                document = JsonDocument.Parse(node.ToJsonString()).RootElement;
            }

            using var stream = new MemoryStream(Encoding.UTF8.GetBytes(document.GetRawText()));
            var reader = new DocumentReader(stream, long.MaxValue);
            try
            {
                var head = await reader.ReadHeadAsync(cancellationToken);
                await engine.SubmitAsync(id, workflow.Owner, WorkflowPlan.Build(head, batchAvailable: options.Value.Slurm.RestUrl is not null), reader, id, cancellationToken);
            }
            catch (WorkflowDocumentException ex)
            {
                return new Outcome(false, $"the sub-workflow is not valid at {ex.Element}: {ex.Message}", null);
            }
        }

        var child = (await engine.LoadAsync(id, cancellationToken))!;
        while (true)
        {
            var state = await engine.Store.ReadAsync(c => WorkflowStore.ScalarAsync<string>(c, null, "SELECT state FROM workflows WHERE key = @key", cancellationToken, ("key", child.Key)), cancellationToken);
            if (state is not null && WorkflowStates.IsFinished(state))
            {
                return new Outcome(state == WorkflowStates.Succeeded, state == WorkflowStates.Succeeded ? null : $"the sub-workflow {state}",
                    new Dictionary<string, string>(StringComparer.Ordinal) { ["workflow"] = id, ["state"] = state });
            }

            await Task.WhenAny(engine.JobsReady, Task.Delay(500, cancellationToken));
        }
    }

    /// <summary>The delivery request with every string's references expanded.</summary>
    private static string Expand(JsonElement element, Func<string, IReadOnlyList<string>> resolve)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            Write(writer, element, resolve);
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static void Write(Utf8JsonWriter writer, JsonElement element, Func<string, IReadOnlyList<string>> resolve)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.String:
                writer.WriteStringValue(Template.Expand(element.GetString()!, resolve));
                break;
            case JsonValueKind.Object:
                writer.WriteStartObject();
                foreach (var property in element.EnumerateObject())
                {
                    writer.WritePropertyName(property.Name);
                    Write(writer, property.Value, resolve);
                }

                writer.WriteEndObject();
                break;
            case JsonValueKind.Array:
                writer.WriteStartArray();
                foreach (var item in element.EnumerateArray())
                {
                    // An array item that is one reference alone (["${files}"]) becomes one item per value.
                    if (item.ValueKind == JsonValueKind.String && Template.Whole(item.GetString()!) is { } reference)
                    {
                        foreach (var value in resolve(reference))
                        {
                            writer.WriteStringValue(value);
                        }
                    }
                    else
                    {
                        Write(writer, item, resolve);
                    }
                }

                writer.WriteEndArray();
                break;
            default:
                element.WriteTo(writer);
                break;
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "The service's own jobs could not be run this round; trying again")]
    private static partial void LogLoopFailed(ILogger logger, Exception exception);
}
