using System.Security.Claims;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Shoppe.ServiceDefaults;
using Shoppe.Http.AccessLines;
using Shoppe.ServiceDefaults.RequestIds;

namespace Shoppe.Http.Tests;

/// <summary>Endpoints marked WithSummarizedAccessLog: one access line per request id and user per interval, failures at once.</summary>
public sealed class AccessSummariesTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Task<TestServiceHost> StartAsync() => TestServiceHost.StartAsync(app =>
    {
        // The user, as authentication would set it: summaries are per user.
        app.Use((context, next) =>
        {
            if (context.Request.Headers["X-Test-User"].ToString() is { Length: > 0 } user)
            {
                context.User = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Name, user)], "test"));
            }

            return next(context);
        });
        app.MapGet("/data/{n:int}", async (int n, HttpContext context) =>
        {
            if (n < 0)
            {
                context.Response.StatusCode = 404;
                return;
            }

            context.Response.StatusCode = n % 2 == 0 ? 200 : 206;
            context.Response.ContentLength = n;
            await context.Response.Body.WriteAsync(new byte[n], context.RequestAborted);
        }).WithName("ReadData").WithSummarizedAccessLog();
        app.MapGet("/plain", () => "plain");
    }, builder =>
    {
        builder.Configuration["Shoppe:AccessSummaryInterval"] = "01:00:00";
        builder.AddSummarizedAccessLog();
    });

    private static async Task GetAsync(HttpClient client, string path, string? requestId, string user)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (requestId is not null)
        {
            request.Headers.Add(RequestId.HeaderName, requestId);
        }

        request.Headers.Add("X-Test-User", user);
        using var response = await client.SendAsync(request, Ct);
        await response.Content.ReadAsByteArrayAsync(Ct);
    }

    [Fact]
    public async Task SummarizedEndpoint_ManyRequests_OneLinePerRequestIdAndUser()
    {
        await using var host = await StartAsync();
        using var client = host.CreateClient();
        for (var i = 0; i < 20; i++)
        {
            await GetAsync(client, $"/data/{100 + i}", "delivery-req-1", "alice");
        }

        for (var i = 0; i < 3; i++)
        {
            await GetAsync(client, "/data/10", null, "bob");
        }

        await GetAsync(client, "/plain", "delivery-req-1", "alice");
        var accessLines = () => host.Logs.Records.Where(r => r.Category == RequestAccessLog.Category).ToList();
        // Nothing of the data reads is written before the summary is due; the plain request has its own line.
        Assert.Contains("GET /plain -> 200", Assert.Single(accessLines()).Message, StringComparison.Ordinal);

        host.Services.GetRequiredService<AccessSummaries>().Write();

        var alice = Assert.Single(accessLines(), r => r.Message.Contains("ReadData", StringComparison.Ordinal) && r.Message.Contains("delivery-req-1", StringComparison.Ordinal));
        Assert.Contains("GET ReadData: 20 requests (10 partial, 0 not modified), 2190 bytes", alice.Message, StringComparison.Ordinal);
        Assert.Equal("delivery-req-1", alice.Scope[ShoppeAttributes.RequestId]);
        Assert.Equal("alice", alice.Scope[ShoppeAttributes.EndUser]);
        // Reads without an id of their own get a new one each: they are summed per user, under no request id.
        var bob = Assert.Single(accessLines(), r => r.Scope.TryGetValue(ShoppeAttributes.EndUser, out var u) && "bob".Equals(u));
        Assert.Contains("GET ReadData: 3 requests (0 partial, 0 not modified), 30 bytes", bob.Message, StringComparison.Ordinal);
        Assert.False(bob.Scope.ContainsKey(ShoppeAttributes.RequestId));

        // Written once: the next summary starts from nothing.
        var before = accessLines().Count;
        host.Services.GetRequiredService<AccessSummaries>().Write();
        Assert.Equal(before, accessLines().Count);
    }

    [Fact]
    public async Task SummarizedEndpoint_Failure_IsLoggedAtOnceOnItsOwn()
    {
        await using var host = await StartAsync();
        using var client = host.CreateClient();
        await GetAsync(client, "/data/-1", "req-with-a-miss", "alice");

        var line = Assert.Single(host.Logs.Records, r => r.Category == RequestAccessLog.Category);
        Assert.Contains("GET /data/-1 -> 404", line.Message, StringComparison.Ordinal);
        Assert.Equal("req-with-a-miss", line.Scope[ShoppeAttributes.RequestId]);
    }

    [Fact]
    public async Task Summaries_ServiceStops_AreWrittenOut()
    {
        await using var host = await StartAsync();
        using (var client = host.CreateClient())
        {
            await GetAsync(client, "/data/7", "req-at-stop", "alice");
        }

        await host.StopAsync();

        Assert.Single(host.Logs.Records, r => r.Message.Contains("GET ReadData: 1 requests", StringComparison.Ordinal) && r.Message.Contains("req-at-stop", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Summaries_Interval_WritesWithoutBeingAsked()
    {
        await using var host = await TestServiceHost.StartAsync(
            app => app.MapGet("/data", () => "x").WithName("Tick").WithSummarizedAccessLog(),
            builder =>
            {
                builder.Configuration["Shoppe:AccessSummaryInterval"] = "00:00:00.100";
                builder.AddSummarizedAccessLog();
            });
        using var client = host.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/data");
        request.Headers.Add(RequestId.HeaderName, "ticking");
        (await client.SendAsync(request, Ct)).EnsureSuccessStatusCode();

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (DateTime.UtcNow < deadline && !host.Logs.Records.Any(r => r.Message.Contains("GET Tick: 1 requests", StringComparison.Ordinal)))
        {
            await Task.Delay(50, Ct);
        }

        Assert.Contains(host.Logs.Records, r => r.Message.Contains("GET Tick: 1 requests", StringComparison.Ordinal) && r.Message.Contains("ticking", StringComparison.Ordinal));
    }
}
