using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Shoppe.ServiceDefaults.RequestIds;

namespace Shoppe.ServiceDefaults.Tests;

public sealed class ProblemDetailsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Task<TestServiceHost> StartAsync() => TestServiceHost.StartAsync(app =>
    {
        app.MapPost("/items", (Item item) => Results.Ok(item));
        app.MapGet("/boom", string () => throw new InvalidOperationException("secret internals"));
    });

    [Fact]
    public async Task MalformedJsonBody_Returns400ProblemDetails()
    {
        await using var host = await StartAsync();
        using var content = new StringContent("{\"name\": ", Encoding.UTF8, "application/json");
        using var response = await host.CreateClient().PostAsync("/items", content, Ct);

        await AssertProblemAsync(response, HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task WrongTypeInBody_Returns400ProblemDetails()
    {
        await using var host = await StartAsync();
        using var response = await host.CreateClient().PostAsJsonAsync("/items", new { name = "x", count = "many" }, Ct);

        await AssertProblemAsync(response, HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task UnknownRoute_Returns404ProblemDetailsWithTheRequestId()
    {
        await using var host = await StartAsync();
        using var response = await host.CreateClient().GetAsync("/no/such/thing", Ct);

        using var problem = await AssertProblemAsync(response, HttpStatusCode.NotFound);
        Assert.Equal(
            Assert.Single(response.Headers.GetValues(RequestId.HeaderName)),
            problem.RootElement.GetProperty("requestId").GetString());
    }

    [Fact]
    public async Task UnhandledException_Returns500ProblemDetailsWithoutInternals()
    {
        await using var host = await StartAsync();
        using var response = await host.CreateClient().GetAsync("/boom", Ct);

        using var problem = await AssertProblemAsync(response, HttpStatusCode.InternalServerError);
        Assert.DoesNotContain("secret internals", problem.RootElement.GetRawText(), StringComparison.Ordinal);
    }

    private static async Task<JsonDocument> AssertProblemAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        Assert.Equal(expected, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        Assert.Equal((int)expected, problem.RootElement.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrEmpty(problem.RootElement.GetProperty("title").GetString()));
        return problem;
    }

    private sealed record Item(string Name, int Count);
}
