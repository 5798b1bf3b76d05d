using System.Net;
using System.Net.Http.Json;
using Shoppe.Transfer.Remotes;

namespace Shoppe.Transfer.Tests;

/// <summary>Transfer:AllowedRemotes: the rules, and copies refused before and at connection time.</summary>
public sealed class RemotePolicyTests : IAsyncLifetime
{
    private readonly string _work = Directory.CreateTempSubdirectory("shoppe-remotes-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync() => await TestFolders.DeleteAsync(_work);

    private static RemotePolicy Policy(params string[] rules)
    {
        var policy = new RemotePolicy(rules, out var errors);
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
        _ = new RemotePolicy(["10.0.0.0/33", "not a host!", "ok.example"], out var errors);
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

    [Fact]
    public async Task Copy_ToALinkLocalSource_IsRefusedWith403()
    {
        await using var service = new TransferServiceFactory(Path.Combine(_work, "a"), Path.Combine(_work, "signing.key"));
        using var client = service.ClientWith("storage.modify:/");
        using var request = new HttpRequestMessage(new HttpMethod("COPY"), "/f.bin");
        request.Headers.TryAddWithoutValidation("Source", "http://169.254.169.254/latest/meta-data/");

        using var response = await client.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("Transfer:AllowedRemotes", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(service.Storage, "f.bin")));
    }

    [Fact]
    public async Task Copy_NameResolvingOutsideTheRanges_FailsAtConnection()
    {
        await using var source = new TransferServiceFactory(Path.Combine(_work, "src"), Path.Combine(_work, "signing.key"));
        Directory.CreateDirectory(source.Storage);
        await File.WriteAllBytesAsync(Path.Combine(source.Storage, "f.bin"), new byte[1000], Ct);
        await using var service = new TransferServiceFactory(Path.Combine(_work, "dst"), Path.Combine(_work, "signing.key"),
            new Dictionary<string, string?> { ["Transfer:AllowedRemotes:0"] = "10.0.0.0/8" });
        using var client = service.ClientWith("storage.modify:/");
        using var request = new HttpRequestMessage(new HttpMethod("COPY"), "/f.bin");
        // "localhost" passes the first look (a name, beside ranges) and resolves to 127.0.0.1, outside them.
        request.Headers.TryAddWithoutValidation("Source", $"http://localhost:{source.Url.Port}/f.bin");
        request.Headers.TryAddWithoutValidation("TransferHeaderAuthorization", "Bearer " + source.Token("alice", "storage.read:/"));

        using var response = await client.SendAsync(request, Ct);
        var body = await response.Content.ReadAsStringAsync(Ct);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Contains("failure: The remote localhost is not one this service may connect to", body, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(service.Storage, "f.bin")));
    }

    [Fact]
    public async Task Queue_RemoteNotAllowed_IsRefusedWith403()
    {
        await using var service = new TransferServiceFactory(Path.Combine(_work, "q"), Path.Combine(_work, "signing.key"),
            new Dictionary<string, string?> { ["Transfer:AllowedRemotes:0"] = "se.example.org" });
        using var client = service.ClientWith(null);

        using var response = await client.PostAsJsonAsync("/v1/transfers", new { source = "http://127.0.0.1:1/a", destination = "http://se.example.org/b" }, Ct);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }
}
