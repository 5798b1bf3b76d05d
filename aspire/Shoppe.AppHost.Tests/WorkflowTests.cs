using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Aspire.Hosting.Testing;
using Shoppe.Security;

namespace Shoppe.AppHost.Tests;

/// <summary>
/// docs/workflow.md's walk-through on the running facility, from the page itself: a carousel collection fed file by
/// file, a delivery transform per arrived file (as the user, on the delivery service), then a merge on the facility's
/// local pilots; the whole run's logs back to the user under the workflow's id.
/// </summary>
public sealed partial class WorkflowTests(FacilityFixture facility)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string Token(string user) =>
        new TokenIssuer(new ShoppeSecurityOptions { SigningKeyFile = Path.Combine(facility.DataRoot, "keys", "signing.key") }, TimeProvider.System)
            .Issue(user, [], TimeSpan.FromMinutes(10));

    /// <summary>The walk-through's YAML block, as the page shows it.</summary>
    private static string WalkThrough()
    {
        var page = File.ReadAllText(Path.Combine(Repository.Root, "docs", "workflow.md"));
        var section = page[page.IndexOf("## Walk-through", StringComparison.Ordinal)..];
        return YamlBlock().Match(section).Groups[1].Value;
    }

    [Fact]
    public async Task WalkThrough_CarouselFeedsADeliveryPerArrivedFile_ThenTheMergeRunsOnTheLocalPilots()
    {
        using var workflow = facility.App.CreateHttpClient("workflow");
        workflow.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token("alice"));
        using var content = new StringContent(WalkThrough(), System.Text.Encoding.UTF8, "application/yaml");
        using var submitted = await workflow.PostAsync("/v1/workflows", content, Ct);
        Assert.True(submitted.StatusCode == HttpStatusCode.Created, await submitted.Content.ReadAsStringAsync(Ct));
        var id = JsonDocument.Parse(await submitted.Content.ReadAsStringAsync(Ct)).RootElement.GetProperty("id").GetString()!;

        // The samples arrive one by one, through the cache, as a transfer's stage-in or a site's tape would land them.
        var cache = facility.App.GetEndpoint("cache", "http").ToString().TrimEnd('/');
        var samples = Directory.GetFiles(Path.Combine(facility.DataRoot, "origin", "nanoaod"), "*.parquet").Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(2, samples.Length);
        foreach (var sample in samples)
        {
            using var arrived = await workflow.PostAsJsonAsync($"/v1/workflows/{id}/collections/arrivals/files", new { files = new[] { $"{cache}/nanoaod/{Path.GetFileName(sample)}" } }, Ct);
            Assert.Equal(HttpStatusCode.OK, arrived.StatusCode);
        }

        using (var close = await workflow.PostAsync($"/v1/workflows/{id}/collections/arrivals/close", null, Ct))
        {
            Assert.Equal(HttpStatusCode.OK, close.StatusCode);
        }

        JsonElement status;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(120);
        do
        {
            await Task.Delay(500, Ct);
            status = JsonDocument.Parse(await workflow.GetStringAsync($"/v1/workflows/{id}", Ct)).RootElement;
        }
        while (status.GetProperty("state").GetString() == "running" && DateTime.UtcNow < deadline);

        Assert.Equal("succeeded", status.GetProperty("state").GetString());
        var collection = status.GetProperty("collections")[0];
        Assert.Equal(2, collection.GetProperty("processed").GetInt64());
        Assert.True(collection.GetProperty("outputClosed").GetBoolean());

        // Each skim job was a transform on the delivery service under the job's request id, as alice.
        using var delivery = facility.App.CreateHttpClient("delivery");
        delivery.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token("alice"));
        var jobs = JsonDocument.Parse(await workflow.GetStringAsync($"/v1/workflows/{id}/jobs", Ct)).RootElement.GetProperty("jobs");
        var skim = jobs.EnumerateArray().First(j => j.GetProperty("work").GetString() == "skim").GetProperty("id").GetString()!;
        var transform = JsonDocument.Parse(await delivery.GetStringAsync($"/v1/transforms/{skim}", Ct)).RootElement;
        Assert.Equal("complete", transform.GetProperty("state").GetString());
        Assert.Equal("alice", transform.GetProperty("owner").GetString());

        // The whole run's logs, by the workflow's id: the service's, a delivery's, and the merge's own output.
        using var logs = facility.App.CreateHttpClient("logs");
        logs.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token("alice"));
        var text = "";
        deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < deadline && !(text.Contains("merging 2 skims", StringComparison.Ordinal) && text.Contains($"Transform {skim} complete", StringComparison.Ordinal)
            && text.Contains("succeeded", StringComparison.Ordinal)))
        {
            using var page = await logs.GetAsync($"/v1/requests/{id}/logs?limit=10000", Ct);
            if (page.StatusCode == HttpStatusCode.OK)
            {
                text = string.Join("\n", JsonDocument.Parse(await page.Content.ReadAsStringAsync(Ct)).RootElement.GetProperty("records").EnumerateArray()
                    .Select(r => r.GetProperty("message").GetString()));
            }

            await Task.Delay(500, Ct);
        }

        Assert.Contains("merging 2 skims", text, StringComparison.Ordinal);
        Assert.Contains($"Transform {skim} complete", text, StringComparison.Ordinal);
        Assert.Contains($"Workflow {id} succeeded", text, StringComparison.Ordinal);
    }

    [GeneratedRegex("```yaml\\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex YamlBlock();
}
