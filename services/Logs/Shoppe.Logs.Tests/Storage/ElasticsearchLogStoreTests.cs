using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Elastic.Clients.Elasticsearch;
using Elastic.Transport;
using Shoppe.Logs.Storage;

namespace Shoppe.Logs.Tests.Storage;

/// <summary>
/// The Elasticsearch store's queries and its reading of answers, through the official client's own
/// serializers and transport, against responses shaped exactly as Elasticsearch's search API documents
/// them (no Elasticsearch server can be installed on these machines; see ElasticsearchContainerTests).
/// </summary>
public sealed class ElasticsearchLogStoreTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    // A search answer as documented (_search response body), with two hits of the collector's otel mapping:
    // one nesting its resource attributes, one keeping dotted keys, as exporters variously do.
    private const string TwoHits = """
        {
          "took": 3, "timed_out": false,
          "_shards": { "total": 1, "successful": 1, "skipped": 0, "failed": 0 },
          "hits": {
            "total": { "value": 2, "relation": "eq" },
            "max_score": null,
            "hits": [
              {
                "_index": ".ds-logs-generic.otel-default-2026.11.25-000001", "_id": "Zx1", "_score": null,
                "_source": {
                  "@timestamp": "2025-11-25T12:00:00.010000000Z",
                  "severity_number": 17, "severity_text": "Error",
                  "body": { "text": "file 1 of 1 unreadable" },
                  "attributes": { "shoppe.request_id": "es-1", "enduser.id": "alice", "file": "nano_bad.parquet" },
                  "resource": { "attributes": { "service.name": "delivery" } },
                  "trace_id": "0af7651916cd43dd8448eb211c80319c", "span_id": "b7ad6b7169203331"
                },
                "sort": [ 1764072000010000000, 7 ]
              },
              {
                "_index": ".ds-logs-generic.otel-default-2026.11.25-000001", "_id": "Zx2", "_score": null,
                "_source": {
                  "@timestamp": "2025-11-25T12:00:00.020000000Z",
                  "severity_number": 9,
                  "body": { "text": "transform failed" },
                  "attributes": { "shoppe": { "request_id": "es-1", "request_state": "failed" } },
                  "resource": { "attributes": { "service": { "name": "delivery" } } }
                },
                "sort": [ 1764072000020000000, 8 ]
              }
            ]
          }
        }
        """;

    // A documented error answer: the index pattern matched nothing and the cluster says why.
    private const string IndexMissing = """
        {
          "error": {
            "root_cause": [ { "type": "index_not_found_exception", "reason": "no such index [logs-*]", "index": "logs-*" } ],
            "type": "index_not_found_exception", "reason": "no such index [logs-*]", "index": "logs-*"
          },
          "status": 404
        }
        """;

    private sealed class Cluster
    {
        public ConcurrentQueue<string> Requests { get; } = new();

        public ElasticsearchLogStore Store(string body, int status = 200, ElasticsearchLogStoreOptions? options = null)
        {
            var invoker = new InMemoryRequestInvoker(Encoding.UTF8.GetBytes(body), status, null, "application/json",
                new Dictionary<string, IEnumerable<string>>(StringComparer.OrdinalIgnoreCase) { ["X-Elastic-Product"] = ["Elasticsearch"] });
            var settings = new ElasticsearchClientSettings(invoker)
                .DisableDirectStreaming()
                .OnRequestCompleted(call => Requests.Enqueue(call.RequestBodyInBytes is { } b ? Encoding.UTF8.GetString(b) : ""));
            return new ElasticsearchLogStore(new ElasticsearchClient(settings), options ?? new ElasticsearchLogStoreOptions());
        }
    }

    [Fact]
    public async Task Query_BuildsFiltersTimeOrderAndPaging_WithTheCollectorsFieldNames()
    {
        var cluster = new Cluster();
        var store = cluster.Store(TwoHits);

        await store.QueryAsync(new LogQuery("es-1", 17, "delivery", null, null, ["unreadable", "file"], new LogCursor(1764072000000000000, 3), 50, "alice"), Ct);

        using var body = JsonDocument.Parse(Assert.Single(cluster.Requests));
        var root = body.RootElement;
        Assert.Equal(51, root.GetProperty("size").GetInt32());
        var filter = root.GetProperty("query").GetProperty("bool").GetProperty("filter").EnumerateArray().Select(f => f.GetRawText()).ToArray();
        Assert.Contains(filter, f => f.Contains("\"attributes.shoppe.request_id\"", StringComparison.Ordinal) && f.Contains("\"es-1\"", StringComparison.Ordinal));
        Assert.Contains(filter, f => f.Contains("\"severity_number\"", StringComparison.Ordinal) && f.Contains("\"gte\":17", StringComparison.Ordinal));
        Assert.Contains(filter, f => f.Contains("\"resource.attributes.service.name\"", StringComparison.Ordinal) && f.Contains("\"delivery\"", StringComparison.Ordinal));
        Assert.Contains(filter, f => f.Contains("\"should\"", StringComparison.Ordinal) && f.Contains("\"attributes.enduser.id\"", StringComparison.Ordinal) && f.Contains("\"alice\"", StringComparison.Ordinal));
        // The client writes a one-clause "must" as an object, which Elasticsearch reads as a list of one.
        var must = root.GetProperty("query").GetProperty("bool").GetProperty("must");
        var match = (must.ValueKind == JsonValueKind.Array ? must[0] : must).GetProperty("match").GetProperty("body.text");
        Assert.Equal("unreadable file", match.GetProperty("query").GetString());
        Assert.Equal("and", match.GetProperty("operator").GetString());
        var sort = root.GetProperty("sort").EnumerateArray().ToArray();
        Assert.Equal("asc", sort[0].GetProperty("@timestamp").GetProperty("order").GetString());
        Assert.Equal("date_nanos", sort[0].GetProperty("@timestamp").GetProperty("numeric_type").GetString());
        Assert.True(sort[1].TryGetProperty("_doc", out _));
        Assert.Equal([1764072000000000000, 3], root.GetProperty("search_after").EnumerateArray().Select(v => v.GetInt64()));
    }

    [Fact]
    public async Task Query_ReadsTheDocumentedAnswer_WhicheverWayTheFieldsAreNested()
    {
        var store = new Cluster().Store(TwoHits);

        var page = await store.QueryAsync(new LogQuery("es-1", 0, null, null, null, null, null, 10, null), Ct);

        Assert.Null(page.Next);
        Assert.Equal(2, page.Records.Count);
        var first = page.Records[0];
        Assert.Equal(("file 1 of 1 unreadable", "error", "delivery"), (first.Message, first.Level, first.Service));
        Assert.Equal(new DateTimeOffset(2025, 11, 25, 12, 0, 0, 10, TimeSpan.Zero), first.Time);
        Assert.Equal("0af7651916cd43dd8448eb211c80319c", first.TraceId);
        Assert.Contains("nano_bad.parquet", first.AttributesJson, StringComparison.Ordinal);
        Assert.Equal(("transform failed", "delivery"), (page.Records[1].Message, page.Records[1].Service));
    }

    [Fact]
    public async Task Query_WithMoreHitsThanTheLimit_GivesACursorAtTheLastRecord()
    {
        var cluster = new Cluster();
        var store = cluster.Store(TwoHits);

        var page = await store.QueryAsync(new LogQuery("es-1", 0, null, null, null, null, null, 1, null), Ct);

        Assert.Single(page.Records);
        Assert.Equal(new LogCursor(1764072000010000000, 7), page.Next);
        await store.QueryAsync(new LogQuery("es-1", 0, null, null, null, null, page.Next, 1, null), Ct);
        using var second = JsonDocument.Parse(cluster.Requests.Last());
        Assert.Equal([1764072000010000000, 7], second.RootElement.GetProperty("search_after").EnumerateArray().Select(v => v.GetInt64()));
    }

    [Fact]
    public async Task Request_OwnerAndFinish_ComeFromTheRecords()
    {
        var store = new Cluster().Store(TwoHits);

        var request = await store.GetRequestAsync("es-1", Ct);

        Assert.NotNull(request);
        Assert.Equal("alice", request.Owner);
        Assert.True(request.Finished);
    }

    [Fact]
    public async Task AnErrorAnswer_BecomesAClearFailure()
    {
        var store = new Cluster().Store(IndexMissing, status: 404);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            store.QueryAsync(new LogQuery("es-1", 0, null, null, null, null, null, 10, null), Ct));

        Assert.Contains("no such index [logs-*]", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Documents_AreWrittenInTheCollectorsLayout()
    {
        var store = new Cluster().Store(TwoHits);
        var doc = store.ToDocument(new LogRecordRow("es-9", 1764072000010000123, "cache", 13, "slow origin",
            "{\"origin\":\"xrootd\"}", null, null, "bob", false));

        Assert.Equal("2025-11-25T12:00:00.010000123Z", doc["@timestamp"]!.GetValue<string>());
        Assert.Equal("slow origin", doc["body"]!["text"]!.GetValue<string>());
        Assert.Equal(13, doc["severity_number"]!.GetValue<int>());
        Assert.Equal("cache", doc["resource"]!["attributes"]!["service.name"]!.GetValue<string>());
        Assert.Equal("es-9", doc["attributes"]!["shoppe.request_id"]!.GetValue<string>());
        Assert.Equal("bob", doc["attributes"]!["enduser.id"]!.GetValue<string>());
        Assert.Equal("xrootd", doc["attributes"]!["origin"]!.GetValue<string>());
    }
}
