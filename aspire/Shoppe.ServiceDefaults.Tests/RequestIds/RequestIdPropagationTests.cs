using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Shoppe.ServiceDefaults.RequestIds;

namespace Shoppe.ServiceDefaults.Tests.RequestIds;

public sealed class RequestIdPropagationTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    // Over real loopback sockets: W3C baggage is written by the runtime's SocketsHttpHandler pipeline,
    // which the in-memory test server bypasses.
    [Fact]
    public async Task OutgoingCall_DuringARequest_CarriesTheRequestIdDownstream()
    {
        var seen = new ConcurrentQueue<(string? Header, string? Baggage)>();
        await using var downstream = await TestServiceHost.StartAsync(app => app.MapGet("/work", (HttpContext http) =>
        {
            seen.Enqueue((http.Request.Headers[RequestId.HeaderName], http.Request.Headers["baggage"]));
            return Results.Ok();
        }), serviceName: "downstream", kestrel: true);

        await using var upstream = await TestServiceHost.StartAsync(
            app => app.MapGet("/call", async (IHttpClientFactory clients, CancellationToken ct) =>
            {
                using var response = await clients.CreateClient("downstream").GetAsync(new Uri(downstream.Address, "/work"), ct);
                return Results.StatusCode((int)response.StatusCode);
            }),
            builder => builder.Services.AddHttpClient("downstream"),
            serviceName: "upstream");

        using var request = new HttpRequestMessage(HttpMethod.Get, "/call");
        request.Headers.Add(RequestId.HeaderName, "thread-through-1");
        using var response = await upstream.CreateClient().SendAsync(request, Ct);

        response.EnsureSuccessStatusCode();
        var (header, baggage) = Assert.Single(seen);
        Assert.Equal("thread-through-1", header);
        Assert.Contains($"{RequestId.AttributeName}=thread-through-1", baggage, StringComparison.Ordinal);
        // The downstream service logged its access line under the same id.
        Assert.Contains(downstream.Logs.Records, r => r.Category == RequestAccessLog.Category
                                                     && Equals(r.Scope.GetValueOrDefault(RequestId.AttributeName), "thread-through-1"));
    }

    [Fact]
    public async Task OutgoingCall_FromBackgroundWork_CarriesTheScopedId()
    {
        var seen = new ConcurrentQueue<string?>();
        await using var downstream = await StartRecordingDownstreamAsync(seen);
        using var handler = new RequestIdPropagationHandler { InnerHandler = downstream.Server.CreateHandler() };
        using var client = new HttpClient(handler);

        using (RequestId.BeginScope("worker-7"))
        {
            (await client.GetAsync(new Uri("http://localhost/work"), Ct)).Dispose();
        }

        (await client.GetAsync(new Uri("http://localhost/work"), Ct)).Dispose();

        Assert.Equal(["worker-7", null], seen.Select(s => string.IsNullOrEmpty(s) ? null : s));
    }

    [Fact]
    public async Task OutgoingCall_WithExplicitId_IsLeftAlone()
    {
        var seen = new ConcurrentQueue<string?>();
        await using var downstream = await StartRecordingDownstreamAsync(seen);
        using var handler = new RequestIdPropagationHandler { InnerHandler = downstream.Server.CreateHandler() };
        using var client = new HttpClient(handler);
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("http://localhost/work"));
        request.Headers.Add(RequestId.HeaderName, "chosen-by-caller");

        using (RequestId.BeginScope("ambient"))
        {
            (await client.SendAsync(request, Ct)).Dispose();
        }

        Assert.Equal("chosen-by-caller", Assert.Single(seen));
    }

    /// <summary>A downstream service that records the request id header of every call it gets.</summary>
    private static Task<TestServiceHost> StartRecordingDownstreamAsync(ConcurrentQueue<string?> seen) =>
        TestServiceHost.StartAsync(app => app.MapGet("/work", (HttpContext http) =>
        {
            seen.Enqueue(http.Request.Headers[RequestId.HeaderName]);
            return Results.Ok();
        }));
}
