using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.AspNetCore.Http;
using Shoppe.Security;
using Shoppe.ServiceDefaults.RequestIds;

namespace Shoppe.Logs.Tests.EndToEnd;

/// <summary>
/// The whole path, with nothing in between faked: a service built with AddServiceDefaults logs during a
/// user's request, the OpenTelemetry SDK's OTLP exporter sends the records over loopback to the logs
/// service, and the user reads them back by request id.
/// </summary>
public sealed partial class ServiceLogsExportTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task RecordsOfAUsersRequest_ReachTheLogsService_AndOnlyThatUserReadsThem()
    {
        await using var logs = new LogsServiceFactory(kestrel: true);
        using var probe = logs.CreateClient(); // starts the loopback server
        var logsUrl = probe.BaseAddress!;

        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = Environments.Production });
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Configuration["Shoppe:ServiceName"] = "delivery";
        builder.Configuration["OTEL_SERVICE_NAME"] = "delivery";
        builder.Configuration["Shoppe:DataRoot"] = Path.Combine(logs.DataRoot, "delivery");
        builder.Configuration["Shoppe:Security:SigningKeyFile"] = logs.KeyFile;
        builder.Configuration["Shoppe:Logs:Endpoint"] = logsUrl.ToString();
        builder.Configuration["Shoppe:Logs:Token"] = logs.Token("delivery", ShoppeClaims.ServiceRole);
        builder.AddServiceDefaults();
        builder.AddShoppeAuthentication();
        var app = builder.Build();
        app.MapDefaultEndpoints();
        app.UseShoppeAuthentication();
        app.MapGet("/work", (ILogger<ServiceLogsExportTests> logger) =>
        {
            LogWork(logger, 3);
            return Results.Ok();
        });
        await app.StartAsync(Ct);

        var requestId = $"e2e-{Guid.NewGuid():N}";
        using (var client = new HttpClient { BaseAddress = new Uri(app.Urls.First()) })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/work");
            request.Headers.Add(RequestId.HeaderName, requestId);
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", logs.Token("alice"));
            (await client.SendAsync(request, Ct)).EnsureSuccessStatusCode();
        }

        await app.StopAsync(Ct); // flushes the exporter's batch
        await app.DisposeAsync();

        using var alice = logs.ClientFor("alice");
        using var doc = JsonDocument.Parse(await alice.GetStringAsync($"/v1/requests/{requestId}/logs", Ct));
        Assert.Equal("alice", doc.RootElement.GetProperty("owner").GetString());
        var messages = doc.RootElement.GetProperty("records").EnumerateArray()
            .Select(r => (Service: r.GetProperty("service").GetString(), Message: r.GetProperty("message").GetString())).ToList();
        Assert.Contains(("delivery", "Transforming 3 files for the user"), messages);
        Assert.Contains(messages, m => m.Message!.StartsWith("GET /work -> 200", StringComparison.Ordinal));

        using var bob = logs.ClientFor("bob");
        Assert.Equal(System.Net.HttpStatusCode.Forbidden, (await bob.GetAsync($"/v1/requests/{requestId}/logs", Ct)).StatusCode);
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Transforming {Count} files for the user")]
    private static partial void LogWork(ILogger logger, int count);
}
