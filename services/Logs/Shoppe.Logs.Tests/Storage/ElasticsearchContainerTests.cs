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
        var request = await store.GetRequestAsync("es-real", descendants: false, Ct);
        Assert.Equal("alice", request?.Owner);
        Assert.True(request?.Finished);

        // Descendants: a job and its sub-job; an id that only starts the same; bob's request under the tree.
        await store.AppendAsync(
        [
            new LogRecordRow("es-real:0", 1_764_072_000_001_000_000, "pilot", 9, "job 0 runs", null, null, null, null, true),
            new LogRecordRow("es-real:0:1", 1_764_072_000_002_000_000, "pilot", 9, "sub-job runs", null, null, null, "alice", false),
            new LogRecordRow("es-real0", 1_764_072_000_003_000_000, "pilot", 9, "not a descendant", null, null, null, "alice", false),
            new LogRecordRow("es-real:9", 1_764_072_000_004_000_000, "delivery", 9, "bob's", null, null, null, "bob", false),
            new LogRecordRow("es-real:9", 1_764_072_000_005_000_000, "delivery", 9, "bob's worker", null, null, null, null, false),
            new LogRecordRow("es-quiet:0", 1_764_072_000_006_000_000, "pilot", 9, "a job of a workflow that never logged", null, null, null, "alice", false),
        ], Ct);
        await client.Indices.RefreshAsync(options.WriteIndex, Ct);

        var tree = await store.QueryAsync(new LogQuery("es-real", 0, null, null, null, null, null, 10, "alice"), Ct);
        Assert.Equal(["transform accepted", "job 0 runs", "sub-job runs", "file unreadable"], tree.Records.Select(r => r.Message));
        Assert.Equal(["es-real", "es-real:0", "es-real:0:1", "es-real"], tree.Records.Select(r => r.RequestId));
        Assert.Equal(6, (await store.QueryAsync(new LogQuery("es-real", 0, null, null, null, null, null, 10, null), Ct)).Records.Count);
        Assert.Equal(["job 0 runs", "sub-job runs"], (await store.QueryAsync(new LogQuery("es-real:0", 0, null, null, null, null, null, 10, "alice"), Ct)).Records.Select(r => r.Message));
        var job = await store.GetRequestAsync("es-real:0", descendants: true, Ct);
        // Its own record names no user, and the owner is the request's own first user: none (operators read it).
        Assert.Equal((null, true), (job?.Owner, job?.Finished));
        // An id with no record of its own is its descendants' first user's.
        Assert.Equal("alice", (await store.GetRequestAsync("es-quiet", descendants: true, Ct))?.Owner);
        Assert.Null(await store.GetRequestAsync("es-quiet", descendants: false, Ct));
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
