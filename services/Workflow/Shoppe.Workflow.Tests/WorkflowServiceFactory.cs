using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Shoppe.Workflow.Pilots;

namespace Shoppe.Workflow.Tests;

/// <summary>The real workflow service (its Program, a data folder of its own, the facility's token model).</summary>
public sealed class WorkflowServiceFactory(string dataRoot, IDictionary<string, string?>? settings = null, int? port = null, string? keyFile = null)
    : ShoppeServiceFactory<Program>(dataRoot, new Dictionary<string, string?>
    {
        ["Workflow:Lease"] = "00:00:03",
        ["Workflow:SweepInterval"] = "00:00:00.200",
    }, settings, keyFile, port)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Submits a document (JSON unless a content type is given); returns the response.</summary>
    public static async Task<HttpResponseMessage> SubmitAsync(HttpClient client, string document, string contentType = "application/json")
    {
        using var content = new StringContent(document, System.Text.Encoding.UTF8, contentType);
        return await client.PostAsync("/v1/workflows", content, Ct);
    }

    /// <summary>Submits a document that must be accepted; returns the workflow id.</summary>
    public static async Task<string> SubmitOkAsync(HttpClient client, string document, string contentType = "application/json")
    {
        using var response = await SubmitAsync(client, document, contentType);
        var body = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.IsSuccessStatusCode, body);
        return JsonNode.Parse(body)!["id"]!.GetValue<string>();
    }

    /// <summary>Polls a workflow until it ends.</summary>
    public static async Task<JsonNode> WaitAsync(HttpClient client, string id, TimeSpan? timeout = null) =>
        await Poll.ForAsync(async () => JsonNode.Parse(await client.GetStringAsync($"/v1/workflows/{id}", Ct))!,
            s => s["state"]!.GetValue<string>() is "succeeded" or "failed" or "aborted", timeout ?? TimeSpan.FromSeconds(60), $"workflow {id} to end", Ct);

    /// <summary>A pilot in this process, talking to the in-memory service; cancel the token to stop it.</summary>
    public Task RunPilotAsync(string folder, CancellationToken cancellationToken, string user = "facility", params string[] roles)
    {
        var runner = new PilotRunner(new PilotOptions
        {
            Server = new Uri("http://localhost"),
            Token = Token(user, roles.Length == 0 ? ["pilot"] : roles),
            WorkDirectory = folder,
            Cores = 2,
            LongPoll = TimeSpan.FromSeconds(2),
        }, Server.CreateHandler());
        return Task.Run(async () =>
        {
            using (runner)
            {
                try
                {
                    await runner.RunAsync(cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    // Stopped by the test.
                }
            }
        }, CancellationToken.None);
    }

    /// <summary>The count of jobs in <paramref name="state"/> of one work in a status.</summary>
    public static long Count(JsonNode status, string work, string state) =>
        status["works"]!.AsArray().First(w => w!["name"]!.GetValue<string>() == work)!["jobs"]![state]?.GetValue<long>() ?? 0;

    public static string WorkState(JsonNode status, string work) =>
        status["works"]!.AsArray().First(w => w!["name"]!.GetValue<string>() == work)!["state"]!.GetValue<string>();

    /// <summary>Reads a JSON response.</summary>
    public static async Task<JsonNode> JsonAsync(HttpResponseMessage response) => JsonNode.Parse(await response.Content.ReadAsStringAsync(Ct))!;
}
