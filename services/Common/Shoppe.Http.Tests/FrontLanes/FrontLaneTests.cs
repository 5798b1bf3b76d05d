using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Hosting;
using Shoppe.ServiceDefaults;
using Shoppe.Http.AccessLines;
using Shoppe.Http.FrontLanes;
using Shoppe.ServiceDefaults.RequestIds;

namespace Shoppe.Http.Tests;

/// <summary>A service's front lane: what it takes it answers with the request id, scopes and access line the pipeline gives; the rest is the pipeline's.</summary>
public sealed partial class FrontLaneTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Takes GET /lane/…, for the user named in X-Lane-User; /lane/throw fails before answering.</summary>
    private sealed partial class TestLane(ILoggerFactory loggers) : FrontLane
    {
        private readonly ILogger _logger = loggers.CreateLogger("TestLane");

        public int Offered;
        public int Released;
        public string? SeenRequestId;

        public override string EndpointName => "LaneRead";

        public override bool TryTake(HttpContext context, out string? user, out object? state)
        {
            Interlocked.Increment(ref Offered);
            user = context.Request.Headers["X-Lane-User"].ToString() is { Length: > 0 } name ? name : null;
            state = context.Request.Path.Value;
            return HttpMethods.IsGet(context.Request.Method) && context.Request.Path.StartsWithSegments("/lane");
        }

        public override async Task ServeAsync(HttpContext context, object? state)
        {
            SeenRequestId = RequestId.Current;
            LogServing(_logger, (string?)state);
            if ((string?)state == "/lane/throw")
            {
                throw new InvalidOperationException("the lane broke");
            }

            context.Response.ContentLength = 4;
            await context.Response.WriteAsync("lane", context.RequestAborted);
        }

        public override void Release(object? state) => Interlocked.Increment(ref Released);

        [LoggerMessage(Level = LogLevel.Information, Message = "serving {Path}")]
        private static partial void LogServing(ILogger logger, string? path);
    }

    private static Task<TestServiceHost> StartAsync() => TestServiceHost.StartAsync(
        app => app.MapGet("/{**rest}", () => "pipeline"),
        builder =>
        {
            builder.Configuration["Shoppe:AccessSummaryInterval"] = "01:00:00";
            builder.AddSummarizedAccessLog();
            builder.AddFrontLane<TestLane>();
        });

    private static HttpRequestMessage Get(string path, string? requestId = null, string? user = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (requestId is not null)
        {
            request.Headers.TryAddWithoutValidation(RequestId.HeaderName, requestId);
        }

        if (user is not null)
        {
            request.Headers.Add("X-Lane-User", user);
        }

        return request;
    }

    [Fact]
    public async Task ATakenRequest_HasItsRequestId_Scopes_AndAccessLine()
    {
        await using var host = await StartAsync();
        using var client = host.CreateClient();
        var lane = host.Services.GetRequiredService<TestLane>();

        for (var i = 0; i < 3; i++)
        {
            using var response = await client.SendAsync(Get("/lane/a", "analysis-7", "alice"), Ct);
            Assert.Equal("lane", await response.Content.ReadAsStringAsync(Ct));
            Assert.Equal("analysis-7", response.Headers.GetValues(RequestId.HeaderName).Single());
        }

        Assert.Equal("analysis-7", lane.SeenRequestId);
        var inside = host.Logs.Records.Last(r => r.Category == "TestLane");
        Assert.Equal("analysis-7", inside.Scope[ShoppeAttributes.RequestId]);
        Assert.Equal("alice", inside.Scope[ShoppeAttributes.EndUser]);

        // A caller without an id gets a new one, as from the pipeline.
        using (var anonymous = await client.SendAsync(Get("/lane/b"), Ct))
        {
            Assert.True(RequestId.IsValid(anonymous.Headers.GetValues(RequestId.HeaderName).Single()));
        }

        host.Services.GetRequiredService<AccessSummaries>().Write();
        var line = Assert.Single(host.Logs.Records, r => r.Category == RequestAccessLog.Category && r.Message.Contains("analysis-7", StringComparison.Ordinal));
        Assert.Contains("GET LaneRead: 3 requests", line.Message, StringComparison.Ordinal);
        Assert.Equal("alice", line.Scope[ShoppeAttributes.EndUser]);
        Assert.Equal(0, lane.Released);
    }

    [Fact]
    public async Task RequestsTheLaneDeclines_AndMalformedRequestIds_TakeThePipeline()
    {
        await using var host = await StartAsync();
        using var client = host.CreateClient();
        var lane = host.Services.GetRequiredService<TestLane>();

        using (var declined = await client.SendAsync(Get("/elsewhere", "analysis-8"), Ct))
        {
            Assert.Equal("pipeline", await declined.Content.ReadAsStringAsync(Ct));
            Assert.Equal("analysis-8", declined.Headers.GetValues(RequestId.HeaderName).Single());
        }

        var offered = lane.Offered;
        using var malformed = await client.SendAsync(Get("/lane/a", "not a valid id!"), Ct);
        Assert.Equal(HttpStatusCode.BadRequest, malformed.StatusCode);
        Assert.Equal("application/problem+json", malformed.Content.Headers.ContentType?.MediaType);
        Assert.Equal(offered, lane.Offered);
    }

    [Fact]
    public async Task ALaneThatFails_BeforeAnswering_GivesA500Problem_AndLogsWhy()
    {
        await using var host = await StartAsync();
        using var client = host.CreateClient();

        using var response = await client.SendAsync(Get("/lane/throw", "analysis-9", "alice"), Ct);

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<Dictionary<string, object?>>(Ct);
        Assert.Equal("analysis-9", problem!["requestId"]?.ToString());
        var error = Assert.Single(host.Logs.Records, r => r.Level == LogLevel.Error);
        Assert.Equal("analysis-9", error.Scope[ShoppeAttributes.RequestId]);
        Assert.Contains(host.Logs.Records, r => r.Category == RequestAccessLog.Category && r.Message.Contains("-> 500", StringComparison.Ordinal));
    }
}
