using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Shoppe.Security.Remotes;

namespace Shoppe.Security.Tests.Remotes;

/// <summary>The rules of a remote policy, with the transfer service's defaults and the delivery service's.</summary>
public sealed class RemotePolicyTests
{
    private static RemotePolicy Policy(params string[] rules) => Policy(RemoteDefaults.AnyButLinkLocal, rules);

    private static RemotePolicy Policy(RemoteDefaults defaults, params string[] rules)
    {
        var policy = new RemotePolicy(rules, defaults, "Test:AllowedRemotes", out var errors);
        Assert.Empty(errors);
        return policy;
    }

    [Fact]
    public void Allows_NoRules_EverythingButLinkLocal()
    {
        var policy = Policy();
        Assert.True(policy.Allows("127.0.0.1", IPAddress.Loopback));
        Assert.True(policy.Allows("se.example.org", IPAddress.Parse("192.0.2.7")));
        Assert.False(policy.Allows("169.254.169.254", IPAddress.Parse("169.254.169.254")));
        Assert.False(policy.Allows("metadata.internal", IPAddress.Parse("fe80::1")));
        Assert.False(policy.Allows("x", IPAddress.Parse("::ffff:169.254.1.1")));
    }

    [Fact]
    public void Allows_Rules_NamesWildcardsAndRanges()
    {
        var policy = Policy("se1.example.org", "*.grid.example", "192.0.2.0/24", "2001:db8::/32", "127.0.0.1");
        Assert.True(policy.Allows("se1.example.org", IPAddress.Parse("198.51.100.1")));
        Assert.True(policy.Allows("SE1.Example.org", IPAddress.Parse("198.51.100.1")));
        Assert.True(policy.Allows("a.b.grid.example", IPAddress.Parse("198.51.100.1")));
        Assert.False(policy.Allows("grid.example", IPAddress.Parse("198.51.100.1")));
        Assert.False(policy.Allows("evilgrid.example", IPAddress.Parse("198.51.100.1")));
        Assert.True(policy.Allows("anything", IPAddress.Parse("192.0.2.200")));
        Assert.False(policy.Allows("anything", IPAddress.Parse("192.0.3.1")));
        Assert.True(policy.Allows("v6", IPAddress.Parse("2001:db8:1::5")));
        Assert.True(policy.Allows("localhost", IPAddress.Parse("::ffff:127.0.0.1")));
        Assert.False(policy.Allows("localhost", IPAddress.Parse("127.0.0.2")));
        // A listed name pointed at a link-local address is still refused.
        Assert.False(policy.Allows("se1.example.org", IPAddress.Parse("169.254.169.254")));
    }

    [Fact]
    public void Constructor_BadRules_AreNamed()
    {
        _ = new RemotePolicy(["10.0.0.0/33", "not a host!", "ok.example"], RemoteDefaults.AnyButLinkLocal, "Test:AllowedRemotes", out var errors);
        Assert.Equal(2, errors.Count);
        Assert.Contains(errors, e => e.Contains("10.0.0.0/33", StringComparison.Ordinal));
    }

    [Fact]
    public void Check_AddressOrListedNames_DecidesBeforeConnecting()
    {
        Assert.NotNull(Policy().Check(new Uri("http://169.254.169.254/latest/meta-data")));
        Assert.Null(Policy().Check(new Uri("http://127.0.0.1:1/f")));
        Assert.NotNull(Policy("se.example.org").Check(new Uri("http://other.example.org/f")));
        Assert.Null(Policy("se.example.org").Check(new Uri("https://se.example.org/f")));
        // Names beside ranges can only be judged by where they resolve.
        Assert.Null(Policy("10.0.0.0/8").Check(new Uri("http://localhost/f")));
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("127.8.9.10")]
    [InlineData("0.0.0.0")]
    [InlineData("10.1.2.3")]
    [InlineData("172.16.0.1")]
    [InlineData("172.31.255.255")]
    [InlineData("192.168.1.1")]
    [InlineData("100.64.0.1")]
    [InlineData("169.254.169.254")]
    [InlineData("224.0.0.1")]
    [InlineData("255.255.255.255")]
    [InlineData("::")]
    [InlineData("::1")]
    [InlineData("fd00:ec2::254")]
    [InlineData("fe80::1")]
    [InlineData("ff02::1")]
    [InlineData("::ffff:127.0.0.1")]
    [InlineData("::ffff:10.0.0.1")]
    [InlineData("::7f00:1")]
    [InlineData("64:ff9b::a9fe:a9fe")]
    [InlineData("2002:7f00:1::1")]
    public void Allows_PublicOnlyNoRules_RefusesTheFacilitysInside(string address)
    {
        Assert.False(Policy(RemoteDefaults.PublicOnly).Allows("anything", IPAddress.Parse(address)));
    }

    [Theory]
    [InlineData("8.8.8.8")]
    [InlineData("172.32.0.1")]
    [InlineData("192.0.2.7")]
    [InlineData("2001:db8::1")]
    [InlineData("2606:4700::1111")]
    [InlineData("::ffff:8.8.8.8")]
    public void Allows_PublicOnlyNoRules_AllowsPublicAddresses(string address)
    {
        Assert.True(Policy(RemoteDefaults.PublicOnly).Allows("anything", IPAddress.Parse(address)));
    }

    [Fact]
    public void Allows_PublicOnlyWithRules_InsideOnlyWhereARangeNamesIt()
    {
        var policy = Policy(RemoteDefaults.PublicOnly, "127.0.0.1", "10.1.0.0/16", "store.example.org");
        Assert.True(policy.Allows("localhost", IPAddress.Loopback));
        Assert.True(policy.Allows("anything", IPAddress.Parse("10.1.2.3")));
        Assert.False(policy.Allows("anything", IPAddress.Parse("10.2.0.1")));
        Assert.False(policy.Allows("localhost", IPAddress.IPv6Loopback));
        Assert.True(policy.Allows("store.example.org", IPAddress.Parse("192.0.2.7")));
        // A listed name is not enough for an inside address: its DNS may be pointed there.
        Assert.False(policy.Allows("store.example.org", IPAddress.Parse("192.168.1.1")));
        // With a list, public addresses too only where it names them.
        Assert.False(policy.Allows("elsewhere.example", IPAddress.Parse("192.0.2.8")));
    }

    [Fact]
    public void Check_PublicOnly_AddressesInAnySpellingAreDecidedBeforeConnecting()
    {
        var policy = Policy(RemoteDefaults.PublicOnly);
        Assert.NotNull(policy.Check(new Uri("http://127.0.0.1:8080/f.parquet")));
        Assert.NotNull(policy.Check(new Uri("http://[::1]:8080/f.parquet")));
        Assert.NotNull(policy.Check(new Uri("http://[::ffff:127.0.0.1]/f.parquet")));
        Assert.NotNull(policy.Check(new Uri("http://2130706433/f.parquet"))); // 127.0.0.1 as one number
        Assert.NotNull(policy.Check(new Uri("http://0x7f.1/f.parquet")));
        Assert.NotNull(policy.Check(new Uri("http://0/f.parquet")));
        Assert.Null(policy.Check(new Uri("https://opendata.example.org/f.parquet"))); // judged at connection time
        Assert.Null(policy.Check(new Uri("http://192.0.2.7/f.parquet")));
    }

    [Fact]
    public void Refusal_NamesTheSetting()
    {
        var refusal = Policy(RemoteDefaults.PublicOnly).Check(new Uri("http://10.0.0.1/f"));
        Assert.Equal("The remote 10.0.0.1 is not one this service may connect to (Test:AllowedRemotes)", refusal);
    }

    [Fact]
    public async Task Handler_ARefusedAddress_FailsWithTheRefusalAndConnectsNowhere()
    {
        using var client = new HttpClient(Policy(RemoteDefaults.PublicOnly).Handler(TimeSpan.FromSeconds(5)));

        var failure = await Assert.ThrowsAnyAsync<HttpRequestException>(() => client.GetAsync("http://169.254.169.254/latest/meta-data", TestContext.Current.CancellationToken));

        var refusal = RemoteNotAllowedException.FindIn(failure);
        Assert.NotNull(refusal);
        Assert.Contains("169.254.169.254 is not one this service may connect to (Test:AllowedRemotes)", refusal.Message, StringComparison.Ordinal);
        Assert.Null(RemoteNotAllowedException.FindIn(new HttpRequestException("unreachable", new IOException())));
    }

    private static ServiceProvider Services(RemoteDefaults defaults, params string[] rules)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(rules.Select((r, i) => KeyValuePair.Create($"Delivery:AllowedRemotes:{i}", (string?)r)))
            .Build();
        var services = new ServiceCollection().AddSingleton<IConfiguration>(configuration);
        services.AddRemotePolicy("Delivery", defaults);
        return services.BuildServiceProvider();
    }

    [Fact]
    public void AddRemotePolicy_BindsTheServicesOwnSection()
    {
        using var services = Services(RemoteDefaults.PublicOnly, "127.0.0.1");

        var policy = services.GetRequiredService<RemotePolicy>();

        Assert.Equal("Delivery:AllowedRemotes", policy.Setting);
        Assert.Equal(RemoteDefaults.PublicOnly, policy.Defaults);
        Assert.True(policy.Allows("localhost", IPAddress.Loopback));
        Assert.False(policy.Allows("other", IPAddress.Parse("127.0.0.2")));
    }

    [Fact]
    public void AddRemotePolicy_AnEntryThatIsNeitherNameNorRange_IsNamedAtStart()
    {
        using var services = Services(RemoteDefaults.AnyButLinkLocal, "se.example.org", "10.0.0.0/33");

        var failure = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptions<RemotePolicyOptions>>().Value);

        Assert.Contains("Delivery:AllowedRemotes: '10.0.0.0/33' is neither", Assert.Single(failure.Failures), StringComparison.Ordinal);
    }
}
