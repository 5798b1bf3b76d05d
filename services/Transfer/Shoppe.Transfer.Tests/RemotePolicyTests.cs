using System.Net;
using System.Net.Http.Json;

namespace Shoppe.Transfer.Tests;

/// <summary>
/// Transfer:AllowedRemotes: copies refused before and at connection time (the rules themselves are the shared
/// policy's, tested in Shoppe.Security.Tests/Remotes).
/// </summary>
public sealed class RemotePolicyTests : IAsyncLifetime
{
    private readonly string _work = Directory.CreateTempSubdirectory("shoppe-remotes-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync() => await TestFolders.DeleteAsync(_work);

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
