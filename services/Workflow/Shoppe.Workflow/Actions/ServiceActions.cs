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
    private readonly ConcurrentDictionary<string, (JobLease Lease, CancellationTokenSource Stop)> _running = new(StringComparer.Ordinal);
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
                    PilotAssignment answer;
                    try
                    {
                        answer = await engine.ExchangeAsync(new PilotExchange(_pilot, 0, _running.Values.Select(r => r.Lease).ToList(), results), null, stoppingToken);
                    }
                    catch
                    {
                        foreach (var result in results)
                        {
                            _results.Enqueue(result); // Reported next round.
                        }

                        throw;
                    }

                    last = DateTime.UtcNow;
                    foreach (var lost in answer.Stop)
                    {
                        // Aborted, or taken over by another instance: this run stops (and stops what it started).
                        if (_running.TryRemove(lost.Id, out var running))
                        {
                            await running.Stop.CancelAsync();
                        }
                    }
                }

                var free = Concurrency - _running.Count;
                foreach (var job in await engine.ClaimAsync(Runners.Service, free, _pilot, null, stoppingToken))
                {
                    var workflow = await engine.LoadAsync(job.Key, stoppingToken);
                    var id = Engine.JobId(workflow.Id, job.Index);
                    var stop = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                    _running[id] = (new JobLease(id, job.Attempt), stop);
                    _ = Task.Run(() => RunAsync(workflow, job, id, stop.Token), CancellationToken.None);
                }

                var wait = engine.JobsReady;
                await Task.WhenAny(wait, Task.Delay(250, stoppingToken));
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
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
        JobResult? result = null;
        // A later attempt is a new request on the other service (its own id under the job's), never the failed one again.
        var request = job.Attempt <= 1 ? id : $"{id}.{job.Attempt}";
        try
        {
            var work = workflow.Plan.Works[job.Work];
            var resolve = await engine.ResolverAsync(workflow, job, cancellationToken);
            var outputs = work.Spec.Action switch
            {
                "delivery" => await DeliverAsync(workflow, work, request, resolve, cancellationToken),
                "transfer" => await TransferAsync(workflow, work, request, resolve, cancellationToken),
                _ => await SubWorkflowAsync(workflow, work, job, id, cancellationToken),
            };
            result = new JobResult(id, job.Attempt, outputs.Ok, outputs.Ok ? 0 : 1, outputs.Error, outputs.Values, clock.Elapsed.TotalSeconds);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Its lease is gone (aborted, or another instance has it): what it started is stopped, nothing is reported.
            await StopStartedAsync(workflow, work: workflow.Plan.Works[job.Work], request, id);
        }
        catch (Exception ex)
        {
            result = new JobResult(id, job.Attempt, false, null, ex.Message, null, clock.Elapsed.TotalSeconds);
        }
        finally
        {
            if (_running.TryRemove(id, out var running))
            {
                running.Stop.Dispose();
                if (result is not null)
                {
                    _results.Enqueue(result);
                }

                engine.SignalReady();
            }
        }
    }

    /// <summary>Cancels the transform, or aborts the sub-workflow, that a stopped job had started.</summary>
    private async Task StopStartedAsync(Engine.Loaded workflow, PlannedWork work, string request, string id)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            if (work.Spec.Action == "workflow")
            {
                if (await engine.LoadAsync(id, timeout.Token) is { } child)
                {
                    await engine.AbortAsync(child, timeout.Token);
                }
            }
            else if (work.Spec.Action == "delivery")
            {
                using var client = Client(options.Value.DeliveryUrl, workflow.Owner, "Delivery");
                using var cancel = await client.DeleteAsync($"/v1/transforms/{request}", timeout.Token);
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or InvalidOperationException or System.Data.Common.DbException)
        {
            LogStopFailed(logger, id, ex);
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
        // Only in the owner's own area (/OWNER/...): elsewhere the copy goes without, and the storage decides.
        if (Uri.TryCreate(copy["source"], UriKind.Absolute, out var source) && SameAuthority(source, client.BaseAddress!) && OwnersFolder(source, workflow.Owner) is { } read)
        {
            copy["sourceToken"] = new TokenIssuer(security, time).Issue(workflow.Owner, [], TimeSpan.FromHours(12), $"storage.read:{read}");
        }

        if (Uri.TryCreate(copy["destination"], UriKind.Absolute, out var destination) && SameAuthority(destination, client.BaseAddress!)
            && OwnersFolder(destination, workflow.Owner) is { } folder)
        {
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

    /// <summary>The folder of a file on the facility's storage when it is in the owner's area (<c>/OWNER/…</c>, no dot segments); else null.</summary>
    internal static string? OwnersFolder(Uri file, string owner)
    {
        var path = Uri.UnescapeDataString(file.AbsolutePath);
        var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (segments.Length < 2 || segments[0] != owner || segments.Any(s => s is "." or ".." || s.Contains('\\', StringComparison.Ordinal)))
        {
            return null;
        }

        return "/" + string.Join('/', segments[..^1]);
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
        if (child.Owner != workflow.Owner || child.ParentJob != id)
        {
            return new Outcome(false, $"a workflow {id} exists that this job did not start", null);
        }

        if (job.Attempt > 1)
        {
            await engine.RetryAsync(child, cancellationToken); // A new attempt runs the child's failures again (a no-op if it did not end badly).
        }

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

    [LoggerMessage(Level = LogLevel.Warning, Message = "Job {JobId} stopped, but what it started could not be stopped")]
    private static partial void LogStopFailed(ILogger logger, string jobId, Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "The service's own jobs could not be run this round; trying again")]
    private static partial void LogLoopFailed(ILogger logger, Exception exception);
}
