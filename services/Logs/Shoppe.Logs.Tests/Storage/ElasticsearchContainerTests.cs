using System.Diagnostics;
using System.Net.Sockets;
using DotNet.Testcontainers.Builders;
using Elastic.Clients.Elasticsearch;
using Shoppe.Logs.Storage;

namespace Shoppe.Logs.Tests.Storage;

/// <summary>
/// The Elasticsearch store against a real Elasticsearch, where a Docker engine and the official image
/// exist (image name: SHOPPE_ES_IMAGE). Our machines can install neither the server nor pull the image,
/// so here it reports itself skipped and says why; the same test runs at a site's CI.
/// </summary>
public sealed class ElasticsearchContainerTests
{
    private const string DefaultImage = "docker.elastic.co/elasticsearch/elasticsearch:9.1.5";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task RoundTrip_WriteThenReadARequestsRecords_OnARealElasticsearch()
    {
        var image = Environment.GetEnvironmentVariable("SHOPPE_ES_IMAGE") is { Length: > 0 } configured ? configured : DefaultImage;
        if (WhyNotRunnable(image) is { } reason)
        {
            Assert.Skip(reason);
        }

        var port = FreeLoopbackPort();
        await using var container = new ContainerBuilder(image)
            .WithImagePullPolicy(DotNet.Testcontainers.Images.PullPolicy.Missing)
            .WithNetwork("host") // all traffic stays on loopback
            .WithEnvironment("discovery.type", "single-node")
            .WithEnvironment("xpack.security.enabled", "false")
            .WithEnvironment("network.host", "127.0.0.1")
            .WithEnvironment("http.port", port.ToString(System.Globalization.CultureInfo.InvariantCulture))
            .WithEnvironment("ES_JAVA_OPTS", "-Xms512m -Xmx512m")
            .WithWaitStrategy(Wait.ForUnixContainer().UntilHttpRequestIsSucceeded(r => r.ForPort((ushort)port).ForPath("/_cluster/health")))
            .Build();
        await container.StartAsync(Ct);

        var client = new ElasticsearchClient(new ElasticsearchClientSettings(new Uri($"http://127.0.0.1:{port}")));
        var options = new ElasticsearchLogStoreOptions { IndexPattern = "logs-shoppe*", WriteIndex = "logs-shoppe.otel-default" };
        var store = new ElasticsearchLogStore(client, options);
        await store.AppendAsync(
        [
            new LogRecordRow("es-real", 1_764_072_000_000_000_000, "delivery", 9, "transform accepted", null, null, null, "alice", false),
            new LogRecordRow("es-real", 1_764_072_000_010_000_000, "delivery", 17, "file unreadable", null, null, null, "alice", true),
        ], Ct);
        await client.Indices.RefreshAsync(options.WriteIndex, Ct);

        var page = await store.QueryAsync(new LogQuery("es-real", 0, null, null, null, null, null, 10, "alice"), Ct);
        Assert.Equal(["transform accepted", "file unreadable"], page.Records.Select(r => r.Message));
        var request = await store.GetRequestAsync("es-real", Ct);
        Assert.Equal("alice", request?.Owner);
        Assert.True(request?.Finished);
    }

    /// <summary>Why the test cannot run here, or null when it can.</summary>
    private static string? WhyNotRunnable(string image)
    {
        var dockerHost = Environment.GetEnvironmentVariable("DOCKER_HOST");
        if (string.IsNullOrEmpty(dockerHost) && !File.Exists("/var/run/docker.sock"))
        {
            return "no Docker engine on this machine (no DOCKER_HOST, no /var/run/docker.sock); run where one exists with the image present";
        }

        try
        {
            using var inspect = Process.Start(new ProcessStartInfo("docker", ["image", "inspect", image])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            })!;
            inspect.WaitForExit(30_000);
            return inspect.ExitCode == 0
                ? null
                : $"the image {image} is not on this machine and no registry can be reached (set SHOPPE_ES_IMAGE to a local image)";
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "no docker client on this machine";
        }
    }

    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
