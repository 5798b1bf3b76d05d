using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Aspire.Hosting.Testing;
using Shoppe.Security;

namespace Shoppe.AppHost.Tests;

/// <summary>
/// A physicist's delivery on the running facility: the sample dataset, read through the cache, transformed, and
/// the request's logs — the delivery service's and the cache's — back to its owner by request id.
/// </summary>
public sealed class DeliveryTests(FacilityFixture facility)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string Token(string user) =>
        new TokenIssuer(new ShoppeSecurityOptions { SigningKeyFile = Path.Combine(facility.DataRoot, "keys", "signing.key") }, TimeProvider.System)
            .Issue(user, [], TimeSpan.FromMinutes(10));

    [Fact]
    public async Task Transform_SampleDatasetThroughTheCache_CompletesAndItsLogsReachTheUser()
    {
        using var delivery = facility.App.CreateHttpClient("delivery");
        delivery.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token("alice"));
        using var response = await delivery.PostAsJsonAsync("/v1/transforms", new
        {
            dataset = "nanoaod-samples",
            columns = new[] { "event", "MET_pt", "Muon_pt[Muon_pt > 20]" },
            filter = "any(a, b in Muon: a.charge != b.charge && 60 < mass(a, b) < 120)",
        }, Ct);
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync(Ct));
        var id = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement.GetProperty("requestId").GetString()!;

        JsonElement status;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        do
        {
            await Task.Delay(250, Ct);
            status = JsonDocument.Parse(await delivery.GetStringAsync($"/v1/transforms/{id}", Ct)).RootElement;
        }
        while (status.GetProperty("state").GetString() is "submitted" or "running" && DateTime.UtcNow < deadline);

        Assert.Equal("complete", status.GetProperty("state").GetString());
        Assert.Equal(2, status.GetProperty("filesDone").GetInt32());
        Assert.Equal(80, status.GetProperty("eventsIn").GetInt64());
        Assert.InRange(status.GetProperty("eventsOut").GetInt64(), 1, 79); // Z -> mu mu candidates: some, not all

        // The request's records from the delivery service and from the cache it read through.
        using var logs = facility.App.CreateHttpClient("logs");
        logs.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token("alice"));
        HashSet<string> services = [];
        var text = "";
        deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < deadline && !(services.Contains("delivery") && services.Contains("cache") && text.Contains("complete", StringComparison.Ordinal)))
        {
            using var page = await logs.GetAsync($"/v1/requests/{id}/logs", Ct);
            if (page.StatusCode == HttpStatusCode.OK)
            {
                var records = JsonDocument.Parse(await page.Content.ReadAsStringAsync(Ct)).RootElement.GetProperty("records");
                services = records.EnumerateArray().Select(r => r.GetProperty("service").GetString()!).ToHashSet();
                text = string.Join("\n", records.EnumerateArray().Select(r => r.GetProperty("message").GetString()));
            }

            await Task.Delay(500, Ct);
        }

        Assert.Contains("delivery", services);
        Assert.Contains("cache", services);
        Assert.Contains($"Transform {id} complete: 2 files", text, StringComparison.Ordinal);
    }
}
