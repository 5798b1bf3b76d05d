using System.Net;
using System.Net.Http.Json;
using Shoppe.ServiceDefaults.Versioning;

namespace Shoppe.ServiceDefaults.Tests.Versioning;

public sealed class VersionEndpointTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("Shoppe.Cache", "cache")]
    [InlineData("Shoppe.Delivery", "delivery")]
    [InlineData("other-app", "other-app")]
    public void ServiceNameFor_StripsThePrefix(string applicationName, string expected) =>
        Assert.Equal(expected, ShoppeServiceInfo.ServiceNameFor(applicationName));

    [Fact]
    public void FromAssembly_ReadsTheStampedStackVersion()
    {
        var info = ShoppeServiceInfo.FromAssembly("tests", typeof(VersionEndpointTests).Assembly);

        Assert.Matches(@"^\d+\.\d+\.\d+", info.StackVersion);
        Assert.Equal(info.StackVersion, info.Version); // a component ships at the stack version unless it says otherwise
        Assert.DoesNotContain("+", info.Version, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetVersion_ReturnsTheServiceNameAndVersions()
    {
        await using var host = await TestServiceHost.StartAsync(_ => { }, serviceName: "pushdown");
        var info = await host.CreateClient().GetFromJsonAsync<ShoppeServiceInfo>("/version", Ct);

        Assert.NotNull(info);
        Assert.Equal("pushdown", info.Service);
        Assert.Matches(@"^\d+\.\d+\.\d+", info.StackVersion);
        Assert.StartsWith(".NET", info.Framework, StringComparison.Ordinal);
    }
}
