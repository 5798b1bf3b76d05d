using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Shoppe.ServiceDefaults.RequestIds;

namespace Shoppe.ServiceDefaults.Tests.RequestIds;

public sealed class RequestIdMiddlewareTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Task<TestServiceHost> StartEchoHostAsync() => TestServiceHost.StartAsync(app =>
    {
        app.MapGet("/echo", (HttpContext http, ILogger<RequestIdMiddlewareTests> logger) =>
        {
            logger.LogInformation("working on it");
            return Results.Json(new EchoResult(
                http.Features.Get<IRequestIdFeature>()?.RequestId,
                RequestId.Current,
                Activity.Current?.GetTagItem(RequestId.AttributeName) as string,
                OpenTelemetry.Baggage.GetBaggage(RequestId.AttributeName)));
        });
    });

    [Fact]
    public async Task Request_WithoutHeader_CreatesIdAndReturnsIt()
    {
        await using var host = await StartEchoHostAsync();
        using var response = await host.CreateClient().GetAsync("/echo", Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var id = Assert.Single(response.Headers.GetValues(RequestId.HeaderName));
        Assert.Matches("^[0-9a-f]{32}$", id);
        var echo = await response.Content.ReadFromJsonAsync<EchoResult>(Ct);
        Assert.Equal(id, echo?.Feature);
        Assert.Equal(id, echo?.Current);
    }

    [Fact]
    public async Task Request_WithCallersId_KeepsItEverywhere()
    {
        await using var host = await StartEchoHostAsync();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/echo");
        request.Headers.Add(RequestId.HeaderName, "user-42.req:7");
        using var response = await host.CreateClient().SendAsync(request, Ct);

        Assert.Equal("user-42.req:7", Assert.Single(response.Headers.GetValues(RequestId.HeaderName)));
        var echo = await response.Content.ReadFromJsonAsync<EchoResult>(Ct);
        Assert.Equal(new EchoResult("user-42.req:7", "user-42.req:7", "user-42.req:7", "user-42.req:7"), echo);
    }

    [Fact]
    public async Task Request_WithCallersId_PutsItInTheLoggingScopeOfEveryRecord()
    {
        await using var host = await StartEchoHostAsync();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/echo");
        request.Headers.Add(RequestId.HeaderName, "scope-check-1");
        using var response = await host.CreateClient().SendAsync(request, Ct);
        response.EnsureSuccessStatusCode();

        var record = Assert.Single(host.Logs.Records, r => r.Message == "working on it");
        Assert.Equal("scope-check-1", record.Scope[RequestId.AttributeName]);
        var access = Assert.Single(host.Logs.Records, r => r.Category == RequestAccessLog.Category);
        Assert.Contains("GET /echo -> 200", access.Message, StringComparison.Ordinal);
        Assert.Contains("scope-check-1", access.Message, StringComparison.Ordinal);
        Assert.Equal("scope-check-1", access.Scope[RequestId.AttributeName]);
    }

    [Fact]
    public async Task Request_WithOnlyBaggage_AdoptsTheBaggageId()
    {
        await using var host = await StartEchoHostAsync();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/echo");
        request.Headers.Add("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
        request.Headers.Add("baggage", $"{RequestId.AttributeName}=from-baggage-9");
        using var response = await host.CreateClient().SendAsync(request, Ct);

        Assert.Equal("from-baggage-9", Assert.Single(response.Headers.GetValues(RequestId.HeaderName)));
    }

    [Theory]
    [InlineData("has space")]
    [InlineData("semi;colon")]
    [InlineData("../../etc/passwd")]
    [InlineData("ünïcode")]
    public async Task Request_WithMalformedId_Returns400ProblemDetails(string badId)
    {
        await using var host = await StartEchoHostAsync();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/echo");
        request.Headers.TryAddWithoutValidation(RequestId.HeaderName, badId);
        using var response = await host.CreateClient().SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        Assert.Equal("Invalid request id", problem.RootElement.GetProperty("title").GetString());
        Assert.Equal(400, problem.RootElement.GetProperty("status").GetInt32());
    }

    [Fact]
    public async Task Request_WithOverlongId_Returns400()
    {
        await using var host = await StartEchoHostAsync();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/echo");
        request.Headers.Add(RequestId.HeaderName, new string('a', RequestId.MaxLength + 1));
        using var response = await host.CreateClient().SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Fact]
    public async Task Request_WithTwoIds_Returns400()
    {
        await using var host = await StartEchoHostAsync();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/echo");
        request.Headers.Add(RequestId.HeaderName, ["one", "two"]);
        using var response = await host.CreateClient().SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Fact]
    public void BeginScope_SetsAndRestoresTheCurrentId()
    {
        Assert.Null(RequestId.Current);
        using (RequestId.BeginScope("outer"))
        {
            using (RequestId.BeginScope("inner"))
            {
                Assert.Equal("inner", RequestId.Current);
                Assert.Equal("inner", OpenTelemetry.Baggage.GetBaggage(RequestId.AttributeName));
            }

            Assert.Equal("outer", RequestId.Current);
        }

        Assert.Null(RequestId.Current);
        Assert.Throws<ArgumentException>(() => RequestId.BeginScope("not valid"));
    }

    [Fact]
    public void NewId_IsValidAndSortsByCreation()
    {
        var first = RequestId.NewId();
        Thread.Sleep(2);
        var second = RequestId.NewId();
        Assert.True(RequestId.IsValid(first));
        Assert.True(string.CompareOrdinal(first, second) < 0, $"{first} should sort before {second}");
        var uuid = Guid.ParseExact(first, "N");
        Assert.Equal(7, uuid.Version);
        Assert.Equal(0b10, uuid.Variant >> 2);
        Assert.InRange(DateTimeOffset.FromUnixTimeMilliseconds(Convert.ToInt64(first[..12], 16)), DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow);
    }

    [Fact]
    public void NewIds_AreDistinct_AcrossThreadsAndRefills()
    {
        var ids = new System.Collections.Concurrent.ConcurrentBag<string>();
        Parallel.For(0, 4, _ =>
        {
            for (var i = 0; i < 5_000; i++)
            {
                ids.Add(RequestId.NewId());
            }
        });
        Assert.Equal(ids.Count, ids.Distinct().Count());
    }

    private sealed record EchoResult(string? Feature, string? Current, string? ActivityTag, string? Baggage);
}
