using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Shoppe.Delivery.Transforms;

namespace Shoppe.Delivery.Tests;

/// <summary>
/// Delivery:AllowedRemotes: a URL a user names reaches public addresses only unless the list says otherwise,
/// judged up front where the URL names an address and on every connection (redirects included) otherwise; the
/// facility's own reads (the cache, the named datasets) are not the user's list to restrict.
/// </summary>
public sealed partial class TransformsApiTests
{
    private const string NotAllowed = "is not one this service may connect to (Delivery:AllowedRemotes)";

    /// <summary>The test origins stand on 127.0.0.1, which users' URLs reach only where a site lists it.</summary>
    private static Dictionary<string, string?> LoopbackAllowed => new() { ["Delivery:AllowedRemotes:0"] = "127.0.0.1" };

    private static async Task<TestOrigin> OriginAsync()
    {
        var origin = new TestOrigin();
        origin.Write("nano_dy.parquet", await File.ReadAllBytesAsync(Samples.DrellYan, Ct));
        await origin.StartAsync();
        return origin;
    }

    /// <summary>A web server on <paramref name="address"/> that answers every request with a redirect to <paramref name="target"/> + its path.</summary>
    private static async Task<WebApplication> RedirectorAsync(string address, string target)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://{address}:0");
        var app = builder.Build();
        app.Run(context =>
        {
            context.Response.Redirect(target + context.Request.Path);
            return Task.CompletedTask;
        });
        await app.StartAsync(Ct);
        return app;
    }

    [Fact]
    public async Task Submit_LoopbackOrPrivateUrl_IsRefusedWith403ByDefault()
    {
        await using var origin = await OriginAsync();
        await using var service = Service();
        using var client = service.ClientFor("alice");

        // Addresses are judged before anything is read, in whichever entry they stand.
        foreach (var url in new[] { origin.Url + "/nano_dy.parquet", $"http://[::1]:{origin.Port}/nano_dy.parquet", "http://10.1.2.3/f.parquet", "http://169.254.169.254/latest/meta-data" })
        {
            var problem = await ProblemAsync(client, Request(new[] { Samples.Dimuon, url }, ["MET_pt"]), HttpStatusCode.Forbidden);
            Assert.Equal("Remote not allowed", problem.GetProperty("title").GetString());
            var detail = problem.GetProperty("detail").GetString();
            Assert.StartsWith("Dataset entry 2", detail, StringComparison.Ordinal);
            Assert.Contains(NotAllowed, detail, StringComparison.Ordinal);
        }

        // A name is judged by the address it resolves to, when the first file is opened.
        var byName = await ProblemAsync(client, Request(new[] { $"http://localhost:{origin.Port}/nano_dy.parquet" }, ["MET_pt"]), HttpStatusCode.Forbidden);
        Assert.Equal("Remote not allowed", byName.GetProperty("title").GetString());
        Assert.Contains(NotAllowed, byName.GetProperty("detail").GetString(), StringComparison.Ordinal);

        Assert.Empty(origin.Requests); // nothing reached it
        Assert.Empty((await client.GetFromJsonAsync<TransformStatus[]>("/v1/transforms", Ct))!);
    }

    [Fact]
    public async Task Transform_LoopbackListedInAllowedRemotes_IsDeliveredAndItsRedirectsFollowed()
    {
        await using var origin = await OriginAsync();
        await using var redirector = await RedirectorAsync("127.0.0.2", origin.Url);
        await using var service = Service(new Dictionary<string, string?> { ["Delivery:AllowedRemotes:0"] = "127.0.0.0/30" });
        using var client = service.ClientFor("alice");

        var id = await SubmitAsync(client, Request(new[] { origin.Url + "/nano_dy.parquet", redirector.Urls.First() + "/nano_dy.parquet" }, ["MET_pt"]));
        var status = await DeliveryServiceFactory.WaitAsync(client, id);

        Assert.Equal(TransformStates.Complete, status.State);
        Assert.Equal((2, 80), (status.FilesDone, status.EventsOut));
        Assert.Contains(origin.Requests, r => r.Range is not null);
    }

    [Fact]
    public async Task Transform_RedirectToARefusedAddress_FailsThatFileWithTheReason()
    {
        // The redirector's address is listed; the origin it sends readers to (127.0.0.1) is not.
        await using var origin = await OriginAsync();
        await using var redirector = await RedirectorAsync("127.0.0.2", origin.Url);
        await using var service = Service(new Dictionary<string, string?> { ["Delivery:AllowedRemotes:0"] = "127.0.0.2" });
        using var client = service.ClientFor("alice");
        var redirected = redirector.Urls.First() + "/nano_dy.parquet";

        var id = await SubmitAsync(client, Request(new[] { Samples.Dimuon, redirected }, ["MET_pt"]));
        var status = await DeliveryServiceFactory.WaitAsync(client, id);

        Assert.Equal(TransformStates.Partial, status.State);
        Assert.Equal((1, 1), (status.FilesDone, status.FilesFailed));
        var files = (await client.GetFromJsonAsync<TransformFileStatus[]>($"/v1/transforms/{id}/files", Ct))!;
        Assert.Equal(FileStates.Failed, files[1].State);
        Assert.Contains("The remote 127.0.0.1 " + NotAllowed, files[1].Error, StringComparison.Ordinal);
        Assert.Equal(1, files[1].Attempts); // a refusal does not pass: not retried

        // As the first file, the same redirect refuses the request itself.
        var problem = await ProblemAsync(client, Request(new[] { redirected }, ["MET_pt"]), HttpStatusCode.Forbidden);
        Assert.Contains("The remote 127.0.0.1 " + NotAllowed, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Empty(origin.Requests); // the redirect was never followed
    }

    [Fact]
    public async Task Transform_TheFacilitysOwnDatasets_AreReadWhateverTheList()
    {
        // As the AppHost has it: the facility's storage behind the cache on 127.0.0.1, the samples named by their
        // paths under it; and a named dataset an operator points at a loopback URL of its own.
        await using var cache = new TestOrigin();
        cache.Write("nanoaod/nano_dy.parquet", await File.ReadAllBytesAsync(Samples.DrellYan, Ct));
        cache.Write("nanoaod/nano_dimuon.parquet", await File.ReadAllBytesAsync(Samples.Dimuon, Ct));
        await cache.StartAsync();
        await using var storage = await OriginAsync();
        await using var service = Service(new Dictionary<string, string?>
        {
            ["Delivery:CacheUrl"] = cache.Url,
            ["Delivery:CacheToken"] = "the-delivery-service",
            ["Delivery:Datasets:nanoaod-samples:0"] = "/nanoaod/nano_dy.parquet",
            ["Delivery:Datasets:nanoaod-samples:1"] = "/nanoaod/nano_dimuon.parquet",
            ["Delivery:Datasets:direct:0"] = storage.Url + "/nano_dy.parquet",
            ["Delivery:AllowedRemotes:0"] = "se.example.org", // a list that names neither
        });
        using var client = service.ClientFor("alice");

        var samples = await DeliveryServiceFactory.WaitAsync(client, await SubmitAsync(client, Request("nanoaod-samples", ["MET_pt"])));
        var direct = await DeliveryServiceFactory.WaitAsync(client, await SubmitAsync(client, Request("direct", ["MET_pt"])));
        var cachePath = await DeliveryServiceFactory.WaitAsync(client, await SubmitAsync(client, Request(new[] { "/nanoaod/nano_dy.parquet" }, ["MET_pt"])));

        Assert.Equal((TransformStates.Complete, 2), (samples.State, samples.FilesDone));
        Assert.Equal((TransformStates.Complete, 1), (direct.State, direct.FilesDone));
        Assert.Equal((TransformStates.Complete, 1), (cachePath.State, cachePath.FilesDone));
        Assert.All(cache.Requests, r => Assert.Equal("Bearer the-delivery-service", r.Authorization));
        Assert.All(storage.Requests, r => Assert.Null(r.Authorization)); // the cache's token goes to the cache only
        // Beside the operator's own URL, the same server is the user's list to judge.
        var problem = await ProblemAsync(client, Request(new[] { storage.Url + "/other.parquet" }, ["MET_pt"]), HttpStatusCode.Forbidden);
        Assert.Contains(NotAllowed, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }
}
