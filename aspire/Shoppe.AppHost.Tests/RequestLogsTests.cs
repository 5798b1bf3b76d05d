using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Aspire.Hosting.Testing;
using Shoppe.Security;

namespace Shoppe.AppHost.Tests;

/// <summary>
/// The thread end to end on the running facility: a user's request to one service, whose records (and
/// those of every service it called) come back from the logs service to that user, and to nobody else.
/// </summary>
public sealed class RequestLogsTests(FacilityFixture facility)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string Token(string user, params string[] roles) =>
        new TokenIssuer(new ShoppeSecurityOptions { SigningKeyFile = Path.Combine(facility.DataRoot, "keys", "signing.key") }, TimeProvider.System)
            .Issue(user, roles, TimeSpan.FromMinutes(10));

    [Fact]
    public async Task UsersRequest_ItsRecordsFromEveryServiceReachTheUser_AndOnlyThem()
    {
        var requestId = $"logs-thread-{Guid.NewGuid():N}";
        using (var portal = facility.App.CreateHttpClient("portal"))
        {
            // A page read just before shares its probe with other readers; the API call must still probe under its own id.
            (await portal.GetAsync("/", Ct)).EnsureSuccessStatusCode();
            using var request = new HttpRequestMessage(HttpMethod.Get, "/api/services");
            request.Headers.Add("X-Shoppe-Request-Id", requestId);
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token("alice"));
            (await portal.SendAsync(request, Ct)).EnsureSuccessStatusCode();
        }

        using var logs = facility.App.CreateHttpClient("logs");
        logs.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token("alice"));
        // Exporters send in batches every few seconds: wait for the portal's and its callees' records.
        HashSet<string> services = [];
        string? owner = null;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < deadline && !(services.Contains("portal") && services.Count >= 6))
        {
            using var response = await logs.GetAsync($"/v1/requests/{requestId}/logs", Ct);
            if (response.StatusCode == HttpStatusCode.OK)
            {
                using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
                owner = doc.RootElement.GetProperty("owner").GetString();
                services = doc.RootElement.GetProperty("records").EnumerateArray()
                    .Select(r => r.GetProperty("service").GetString()!).ToHashSet();
            }

            await Task.Delay(TimeSpan.FromMilliseconds(500), Ct);
        }

        Assert.Equal("alice", owner);
        // The logs service keeps its own records out of its store: exporting them to itself would feed back.
        Assert.Equal(["cache", "delivery", "portal", "pushdown", "transfer", "workflow"], services.Order());

        using var bob = facility.App.CreateHttpClient("logs");
        bob.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token("bob"));
        Assert.Equal(HttpStatusCode.Forbidden, (await bob.GetAsync($"/v1/requests/{requestId}/logs", Ct)).StatusCode);
    }
}
