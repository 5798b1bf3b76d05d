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

        public ElasticsearchLogStore Store(string body, int status = 200, ElasticsearchLogStoreOptions? options = null) =>
            Store(new InMemoryRequestInvoker(Encoding.UTF8.GetBytes(body), status, null, "application/json", Headers()), options);

        /// <summary>A cluster that gives <paramref name="bodies"/> in turn, one a search, the last again once they run out.</summary>
        public ElasticsearchLogStore StoreAnswering(params string[] bodies) => Store(new Answers(bodies), null);

        private ElasticsearchLogStore Store(IRequestInvoker invoker, ElasticsearchLogStoreOptions? options)
        {
            var settings = new ElasticsearchClientSettings(new SingleNodePool(new Uri("http://localhost:9200")), invoker)
                .DisableDirectStreaming()
                .OnRequestCompleted(call => Requests.Enqueue(call.RequestBodyInBytes is { } b ? Encoding.UTF8.GetString(b) : ""));
            return new ElasticsearchLogStore(new ElasticsearchClient(settings), options ?? new ElasticsearchLogStoreOptions());
        }

        private static Dictionary<string, IEnumerable<string>> Headers() =>
            new(StringComparer.OrdinalIgnoreCase) { ["X-Elastic-Product"] = ["Elasticsearch"] };

        /// <summary>The client's own in-memory transport, answering each request with the next of a list of bodies.</summary>
        private sealed class Answers(string[] bodies) : IRequestInvoker
        {
            private readonly InMemoryRequestInvoker _transport = new(Encoding.UTF8.GetBytes(bodies[^1]), 200, null, "application/json", Headers());
            private int _next;

            public ResponseFactory ResponseFactory => _transport.ResponseFactory;

            private byte[] Next() => Encoding.UTF8.GetBytes(bodies[Math.Min(Interlocked.Increment(ref _next) - 1, bodies.Length - 1)]);

            public TResponse Request<TResponse>(Endpoint endpoint, BoundConfiguration boundConfiguration, PostData? postData)
                where TResponse : TransportResponse, new() =>
                _transport.BuildResponse<TResponse>(endpoint, boundConfiguration, postData, Next(), 200, "application/json");

            public Task<TResponse> RequestAsync<TResponse>(Endpoint endpoint, BoundConfiguration boundConfiguration, PostData? postData, CancellationToken cancellationToken)
                where TResponse : TransportResponse, new() =>
                _transport.BuildResponseAsync<TResponse>(endpoint, boundConfiguration, postData, cancellationToken, Next(), 200, "application/json");

            public void Dispose() => ((IDisposable)_transport).Dispose();
        }
    }

    [Fact]
    public async Task Query_BuildsFiltersTimeOrderAndPaging_WithTheCollectorsFieldNames()
    {
        var cluster = new Cluster();
        var store = cluster.Store(TwoHits);

        await store.QueryAsync(new LogQuery("es-1", 17, "delivery", null, null, ["unreadable", "file"], new LogCursor(1764072000000000000, 3), 50, "alice", Descendants: false), Ct);

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

    // A workflow's answer: a record of the workflow and one of its job.
    private const string WorkflowHits = """
        {
          "took": 2, "timed_out": false,
          "_shards": { "total": 1, "successful": 1, "skipped": 0, "failed": 0 },
          "hits": {
            "total": { "value": 2, "relation": "eq" },
            "max_score": null,
            "hits": [
              {
                "_index": ".ds-logs-generic.otel-default-2026.11.25-000001", "_id": "Wf1", "_score": null,
                "_source": {
                  "@timestamp": "2025-11-25T12:00:00.010000000Z", "severity_number": 9, "body": { "text": "workflow accepted" },
                  "attributes": { "shoppe.request_id": "wf", "enduser.id": "alice" },
                  "resource": { "attributes": { "service.name": "workflow" } }
                },
                "sort": [ 1764072000010000000, 1 ]
              },
              {
                "_index": ".ds-logs-generic.otel-default-2026.11.25-000001", "_id": "Wf2", "_score": null,
                "_source": {
                  "@timestamp": "2025-11-25T12:00:00.020000000Z", "severity_number": 9, "body": { "text": "job 0 running" },
                  "attributes": { "shoppe": { "request_id": "wf:0" } },
                  "resource": { "attributes": { "service.name": "pilot" } }
                },
                "sort": [ 1764072000020000000, 2 ]
              }
            ]
          }
        }
        """;

    // The aggregation a user's read of a tree asks first, as documented (terms of the request ids, under the typed
    // key the client asks for with typed_keys): the jobs where someone other than the reader wrote.
    private static string Touched(long sumOther, params string[] ids) => $$"""
        {
          "took": 1, "timed_out": false,
          "_shards": { "total": 1, "successful": 1, "skipped": 0, "failed": 0 },
          "hits": { "total": { "value": 0, "relation": "eq" }, "max_score": null, "hits": [] },
          "aggregations": {
            "sterms#foreign": {
              "doc_count_error_upper_bound": 0, "sum_other_doc_count": {{sumOther}},
              "buckets": [ {{string.Join(", ", ids.Select(id => $$"""{ "key": "{{id}}", "doc_count": 2 }"""))}} ]
            }
          }
        }
        """;

    // Then, collapsed on the request id, the first record that names a user of each of those jobs.
    private static string FirstUsers(params (string Id, string User)[] firsts) => $$"""
        {
          "took": 1, "timed_out": false,
          "_shards": { "total": 1, "successful": 1, "skipped": 0, "failed": 0 },
          "hits": {
            "total": { "value": {{firsts.Length}}, "relation": "eq" }, "max_score": null,
            "hits": [ {{string.Join(", ", firsts.Select((f, i) => $$"""
              {
                "_index": "logs", "_id": "F{{i}}", "_score": null,
                "_source": { "@timestamp": "2025-11-25T12:00:00.00{{i}}000000Z", "attributes": { "shoppe.request_id": "{{f.Id}}", "enduser.id": "{{f.User}}" } },
                "fields": { "attributes.shoppe.request_id": [ "{{f.Id}}" ] },
                "sort": [ {{1764072000000000000 + (i * 1000000)}}, {{i}} ]
              }
              """))}} ]
          }
        }
        """;

    private static JsonElement[] Filters(string body)
    {
        using var doc = JsonDocument.Parse(body);
        var filter = doc.RootElement.GetProperty("query").GetProperty("bool").GetProperty("filter");
        // The client writes a one-clause list as an object, which Elasticsearch reads as a list of one.
        return filter.ValueKind == JsonValueKind.Array ? [.. filter.EnumerateArray().Select(f => f.Clone())] : [filter.Clone()];
    }

    [Fact]
    public async Task Query_WithDescendants_AsksForTheIdOrAPrefixOfItAndAColon_AndEachRecordNamesItsRequest()
    {
        var cluster = new Cluster();
        var store = cluster.Store(WorkflowHits);

        var page = await store.QueryAsync(new LogQuery("wf", 0, null, null, null, null, null, 10, null), Ct);

        var tree = Filters(Assert.Single(cluster.Requests))[0].GetProperty("bool");
        var should = tree.GetProperty("should").EnumerateArray().Select(q => q.GetRawText()).ToArray();
        Assert.Equal(2, should.Length);
        Assert.Contains("""{"term":{"attributes.shoppe.request_id":{"value":"wf"}}}""", should);
        Assert.Contains("""{"prefix":{"attributes.shoppe.request_id":{"value":"wf:"}}}""", should);
        Assert.Equal(1, tree.GetProperty("minimum_should_match").GetInt32());
        Assert.Equal(["wf", "wf:0"], page.Records.Select(r => r.RequestId));

        await store.QueryAsync(new LogQuery("wf", 0, null, null, null, null, null, 10, null, Descendants: false), Ct);
        Assert.Equal("""{"term":{"attributes.shoppe.request_id":{"value":"wf"}}}""", Filters(cluster.Requests.Last())[0].GetRawText());
    }

    [Fact]
    public async Task Query_ForAUser_LeavesOutUnattributedRecordsOfDescendantsThatAnotherUserOwns()
    {
        var cluster = new Cluster();
        // Bob and mallory wrote under jobs 7 and 3; job 7 is bob's (his record came first), job 3 alice's.
        var store = cluster.StoreAnswering(Touched(0, "wf:7", "wf:3"), FirstUsers(("wf:3", "alice"), ("wf:7", "bob")), WorkflowHits);

        var page = await store.QueryAsync(new LogQuery("wf", 0, null, null, null, null, null, 10, "alice"), Ct);

        Assert.Equal(["wf", "wf:0"], page.Records.Select(r => r.RequestId));
        var requests = cluster.Requests.ToArray();
        Assert.Equal(3, requests.Length);
        // First: which descendants did someone other than alice write under?
        using (var ask = JsonDocument.Parse(requests[0]))
        {
            var root = ask.RootElement;
            Assert.Equal(0, root.GetProperty("size").GetInt32());
            var query = root.GetProperty("query").GetProperty("bool");
            var filter = query.GetProperty("filter").GetRawText();
            Assert.Contains("""{"prefix":{"attributes.shoppe.request_id":{"value":"wf:"}}}""", filter, StringComparison.Ordinal);
            Assert.Contains("""{"exists":{"field":"attributes.enduser.id"}}""", filter, StringComparison.Ordinal);
            Assert.Contains("\"alice\"", query.GetProperty("must_not").GetRawText(), StringComparison.Ordinal);
            var terms = root.GetProperty("aggregations").GetProperty("foreign").GetProperty("terms");
            Assert.Equal("attributes.shoppe.request_id", terms.GetProperty("field").GetString());
            Assert.Equal(1000, terms.GetProperty("size").GetInt32());
        }

        // Second: who was the first user of each of those?
        using (var ask = JsonDocument.Parse(requests[1]))
        {
            var root = ask.RootElement;
            Assert.Equal("attributes.shoppe.request_id", root.GetProperty("collapse").GetProperty("field").GetString());
            Assert.Equal(2, root.GetProperty("size").GetInt32());
            var filter = root.GetProperty("query").GetProperty("bool").GetProperty("filter").GetRawText();
            Assert.Contains("""{"terms":{"attributes.shoppe.request_id":["wf:7","wf:3"]}}""", filter, StringComparison.Ordinal);
            Assert.Contains("""{"exists":{"field":"attributes.enduser.id"}}""", filter, StringComparison.Ordinal);
            Assert.Equal("asc", root.GetProperty("sort")[0].GetProperty("@timestamp").GetProperty("order").GetString());
        }

        // Then: alice's records, and unattributed ones of any request of the tree but bob's.
        var visibility = Filters(requests[2]).Single(f => f.GetRawText().Contains("enduser", StringComparison.Ordinal)).GetProperty("bool");
        var unattributed = visibility.GetProperty("should").EnumerateArray().Single(q => q.TryGetProperty("bool", out _)).GetProperty("bool");
        var mustNot = unattributed.GetProperty("must_not").GetRawText();
        Assert.Contains("""{"exists":{"field":"attributes.enduser.id"}}""", mustNot, StringComparison.Ordinal);
        Assert.Contains("""{"terms":{"attributes.shoppe.request_id":["wf:7"]}}""", mustNot, StringComparison.Ordinal);
        Assert.DoesNotContain("wf:3", mustNot, StringComparison.Ordinal);
        Assert.Contains(visibility.GetProperty("should").EnumerateArray(), q => q.GetRawText() == """{"term":{"attributes.enduser.id":{"value":"alice"}}}""");
    }

    [Fact]
    public async Task Query_ForAUser_WhereNoOtherUserWrote_IsTwoSearches_AndLeavesNothingOut()
    {
        var cluster = new Cluster();
        var store = cluster.StoreAnswering(Touched(0), WorkflowHits);

        await store.QueryAsync(new LogQuery("wf", 0, null, null, null, null, null, 10, "alice"), Ct);

        Assert.Equal(2, cluster.Requests.Count);
        var visibility = Filters(cluster.Requests.Last()).Single(f => f.GetRawText().Contains("enduser", StringComparison.Ordinal)).GetProperty("bool");
        Assert.DoesNotContain("wf:", visibility.GetRawText(), StringComparison.Ordinal);
        Assert.DoesNotContain("\"filter\"", visibility.GetRawText(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Query_ForAUser_WhenTooManyDescendantsHaveOtherUsers_ShowsOnlyTheRequestsOwnUnattributedRecords()
    {
        var cluster = new Cluster();
        var store = cluster.StoreAnswering(Touched(5, "wf:7"), WorkflowHits);

        await store.QueryAsync(new LogQuery("wf", 0, null, null, null, null, null, 10, "alice"), Ct);

        Assert.Equal(2, cluster.Requests.Count);

        var visibility = Filters(cluster.Requests.Last()).Single(f => f.GetRawText().Contains("enduser", StringComparison.Ordinal)).GetProperty("bool");
        var unattributed = visibility.GetProperty("should").EnumerateArray().Single(q => q.TryGetProperty("bool", out _)).GetProperty("bool");
        Assert.Equal("""{"term":{"attributes.shoppe.request_id":{"value":"wf"}}}""", Single(unattributed.GetProperty("filter")).GetRawText());
        Assert.DoesNotContain("wf:7", unattributed.GetRawText(), StringComparison.Ordinal);

        // The client writes a one-clause list as an object, which Elasticsearch reads as a list of one.
        static JsonElement Single(JsonElement e) => e.ValueKind == JsonValueKind.Array ? Assert.Single(e.EnumerateArray()) : e;
    }

    [Fact]
    public async Task Request_WithDescendants_SpansTheTree_ButOnlyItsOwnEndFinishesIt()
    {
        var cluster = new Cluster();
        var store = cluster.Store(TwoHits);

        var request = await store.GetRequestAsync("es-1", descendants: true, Ct);

        Assert.NotNull(request);
        Assert.True(request.Descendants);
        var bodies = cluster.Requests.ToArray();
        Assert.Contains("\"es-1:\"", bodies[0], StringComparison.Ordinal); // first and last record: of the tree
        Assert.Contains("\"es-1:\"", bodies[1], StringComparison.Ordinal);
        var finish = Assert.Single(bodies, b => b.Contains("request_state", StringComparison.Ordinal));
        Assert.DoesNotContain("\"es-1:\"", finish, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Request_OwnerAndFinish_ComeFromTheRecords()
    {
        var store = new Cluster().Store(TwoHits);

        var request = await store.GetRequestAsync("es-1", descendants: false, Ct);

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
        Assert.Null(doc["attributes"]!["shoppe.request_state"]);
    }

    [Fact]
    public void Documents_OfARecordThatEndsItsRequest_SaySo_KeepingTheStateTheServiceWrote()
    {
        var store = new Cluster().Store(TwoHits);

        var bare = store.ToDocument(new LogRecordRow("es-9", 1, "cache", 9, "done", null, null, null, "bob", true));
        var failed = store.ToDocument(new LogRecordRow("es-9", 1, "cache", 9, "done", "{\"shoppe.request_state\":\"failed\"}", null, null, "bob", true));

        Assert.Equal("finished", bare["attributes"]!["shoppe.request_state"]!.GetValue<string>());
        Assert.Equal("failed", failed["attributes"]!["shoppe.request_state"]!.GetValue<string>());
    }
}
