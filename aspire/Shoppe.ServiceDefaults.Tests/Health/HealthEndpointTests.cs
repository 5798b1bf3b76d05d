using System.Net;

namespace Shoppe.ServiceDefaults.Tests.Health;

public sealed class HealthEndpointTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Health_WithWritableDataRoot_IsHealthy()
    {
        await using var host = await TestServiceHost.StartAsync(_ => { });
        using var client = host.CreateClient();

        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/alive", Ct)).StatusCode);
    }

    [Fact]
    public async Task Health_WhenDataRootIsUnusable_IsUnhealthyButAlive()
    {
        // A file where the data folder should be: the service cannot keep state, so it must not take work.
        var blocker = Path.GetTempFileName();
        try
        {
            await using var host = await TestServiceHost.StartAsync(_ => { }, dataRoot: blocker);
            using var client = host.CreateClient();

            Assert.Equal(HttpStatusCode.ServiceUnavailable, (await client.GetAsync("/health", Ct)).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/alive", Ct)).StatusCode);
        }
        finally
        {
            File.Delete(blocker);
        }
    }
}
