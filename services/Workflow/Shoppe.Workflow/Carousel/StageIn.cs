using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Shoppe.Security;
using Shoppe.ServiceDefaults.RequestIds;
using Shoppe.Workflow.Documents;
using Shoppe.Workflow.Scheduling;
using Shoppe.Workflow.State;

namespace Shoppe.Workflow.Carousel;

/// <summary>
/// Stage-in for collections with <c>stageFrom</c>: each listed file is copied by the transfer service from
/// <c>STAGEFROM/NAME</c> into the collection's folder on the transfer service's storage (a third-party pull, as the
/// workflow's owner, under the request id <c>WORKFLOW:stage-C-N</c>); it arrives, and its job is made, when the copy
/// is done; a copy that fails makes the file failed. Every instance may run this: a file's copy is claimed by one
/// row update.
/// </summary>
internal sealed partial class StageIn(Engine engine, IOptions<WorkflowOptions> options, IHttpClientFactory http, ShoppeSecurityOptions security,
    TimeProvider time, ILogger<StageIn> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.SweepInterval);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await StepAsync(stoppingToken);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                LogStepFailed(logger, ex);
            }
        }
    }

    private sealed record Staged(long Key, string Collection, string Name, long Seq, string? Transfer);

    private async Task StepAsync(CancellationToken cancellationToken)
    {
        var staged = await engine.Store.ReadAsync(async connection =>
        {
            await using var command = WorkflowStore.Command(connection, null, $"""
                SELECT f.wf, f.collection, f.name, f.seq, f.transfer FROM files f JOIN workflows w ON w.key = f.wf
                WHERE f.state = {FileStates.Staging} AND w.state IN ('running', 'suspended') ORDER BY f.wf, f.seq LIMIT 500
                """);
            return await Engine.QueryAsync(command, r => new Staged(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetInt64(3), r.IsDBNull(4) ? null : r.GetString(4)), cancellationToken);
        }, cancellationToken);
        if (staged.Count == 0)
        {
            return;
        }

        var settings = options.Value;
        foreach (var file in staged)
        {
            try
            {
                await StageAsync(file, settings, cancellationToken);
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested && ex is HttpRequestException or JsonException or KeyNotFoundException or TaskCanceledException)
            {
                // This file's copy could not be followed (its transfer is gone, the service is away): it fails alone.
                await SetAsync(file, FileStates.StageFailed, $"its copy could not be followed: {ex.Message}", cancellationToken);
            }
        }
    }

    private async Task StageAsync(Staged file, WorkflowOptions settings, CancellationToken cancellationToken)
    {
        {
            var workflow = await engine.LoadAsync(file.Key, cancellationToken);
            var collections = workflow.Plan.Head.Collections!;
            var index = collections.FindIndex(c => c.Name == file.Collection);
            var spec = collections[index];
            if (settings.TransferUrl is not { } transferUrl || settings.TransferStorageRoot is not { } storage)
            {
                await SetAsync(file, FileStates.StageFailed, "Workflow:TransferUrl and Workflow:TransferStorageRoot are not both set: this facility does not stage files in", cancellationToken);
                return;
            }

            using var client = http.CreateClient("workflow-actions");
            client.BaseAddress = transferUrl;
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", new TokenIssuer(security, time).Issue(workflow.Owner, [], TimeSpan.FromHours(1)));
            if (file.Transfer is null)
            {
                var id = $"{workflow.Id}:stage-{index}-{file.Seq}";
                if (!await ClaimAsync(file, id, cancellationToken))
                {
                    return;
                }

                var relative = Path.GetRelativePath(Path.GetFullPath(storage), Path.GetFullPath(file.Name)).Replace('\\', '/');
                var destination = new Uri(transferUrl, "/" + string.Join('/', relative.Split('/').Select(Uri.EscapeDataString)));
                var folder = "/" + Path.GetDirectoryName(relative)!.Replace('\\', '/');
                if (folder == "/" || folder.Split('/', StringSplitOptions.RemoveEmptyEntries)[0] != workflow.Owner)
                {
                    await SetAsync(file, FileStates.StageFailed, "a staged file lands in its owner's own area of the storage only", cancellationToken);
                    return;
                }

                var body = JsonSerializer.Serialize(new Dictionary<string, string>
                {
                    ["source"] = spec.StageFrom!.TrimEnd('/') + "/" + Uri.EscapeDataString(Path.GetFileName(file.Name)),
                    ["destination"] = destination.AbsoluteUri,
                    // The copy may create files in the collection's folder on the facility's storage, and nowhere else.
                    ["destinationToken"] = new TokenIssuer(security, time).Issue(workflow.Owner, [], TimeSpan.FromHours(12), $"storage.create:{folder} storage.modify:{folder}"),
                }, DocumentJsonContext.Default.DictionaryStringString);
                using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/transfers") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
                request.Headers.Add(RequestId.HeaderName, id);
                using var response = await client.SendAsync(request, cancellationToken);
                if (!response.IsSuccessStatusCode && response.StatusCode != HttpStatusCode.Conflict)
                {
                    await SetAsync(file, FileStates.StageFailed, $"the transfer service refused the copy ({(int)response.StatusCode}): {await response.Content.ReadAsStringAsync(cancellationToken)}", cancellationToken);
                }

                return;
            }

            using var status = JsonDocument.Parse(await client.GetStringAsync($"/v1/transfers/{file.Transfer}", cancellationToken));
            switch (status.RootElement.GetProperty("state").GetString())
            {
                case "done":
                    await SetAsync(file, FileStates.Arrived, null, cancellationToken);
                    break;
                case "failed":
                    var error = status.RootElement.TryGetProperty("error", out var e) ? e.GetString() : null;
                    await SetAsync(file, FileStates.StageFailed, $"its copy failed: {error}", cancellationToken);
                    break;
            }
        }
    }

    private Task<bool> ClaimAsync(Staged file, string transfer, CancellationToken cancellationToken) => engine.Store.WriteAsync(file.Key, async (connection, transaction) =>
        await WorkflowStore.ExecuteAsync(connection, transaction,
            $"UPDATE files SET transfer = @t WHERE wf = @wf AND collection = @c AND name = @n AND state = {FileStates.Staging} AND transfer IS NULL", cancellationToken,
            ("t", transfer), ("wf", file.Key), ("c", file.Collection), ("n", file.Name)) > 0, cancellationToken);

    private async Task SetAsync(Staged file, int state, string? why, CancellationToken cancellationToken)
    {
        var workflow = await engine.LoadAsync(file.Key, cancellationToken);
        await engine.Store.WriteAsync(file.Key, (connection, transaction) =>
            WorkflowStore.ExecuteAsync(connection, transaction,
                $"UPDATE files SET state = @state, arrived = @now WHERE wf = @wf AND collection = @c AND name = @n AND state = {FileStates.Staging}", cancellationToken,
                ("state", state), ("now", time.GetUtcNow().ToUnixTimeMilliseconds()), ("wf", file.Key), ("c", file.Collection), ("n", file.Name)), cancellationToken);
        using (engine.WorkflowScope(workflow))
        {
            if (state == FileStates.Arrived)
            {
                LogStaged(logger, workflow.Id, file.Name);
            }
            else
            {
                LogStageFailed(logger, workflow.Id, file.Name, why ?? "failed");
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Workflow {WorkflowId}: {File} staged in")]
    private static partial void LogStaged(ILogger logger, string workflowId, string file);

    [LoggerMessage(Level = LogLevel.Error, Message = "Workflow {WorkflowId}: {File} could not be staged in: {Why}")]
    private static partial void LogStageFailed(ILogger logger, string workflowId, string file, string why);

    [LoggerMessage(Level = LogLevel.Error, Message = "Stage-in failed this round; trying again")]
    private static partial void LogStepFailed(ILogger logger, Exception exception);
}
