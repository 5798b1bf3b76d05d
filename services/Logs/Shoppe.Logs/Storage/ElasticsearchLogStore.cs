using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Elastic.Clients.Elasticsearch;
using Elastic.Clients.Elasticsearch.Core.Bulk;
using Elastic.Clients.Elasticsearch.QueryDsl;
using EsQuery = Elastic.Clients.Elasticsearch.QueryDsl.Query;

namespace Shoppe.Logs.Storage;

/// <summary>
/// Field names of the documents a site's OpenTelemetry collector writes with its Elasticsearch exporter
/// (the exporter's <c>otel</c> mapping mode by default), bound from <c>Logs:Elasticsearch</c>. Every
/// name is configurable, for sites that map differently.
/// </summary>
public sealed class ElasticsearchLogStoreOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Logs:Elasticsearch";

    /// <summary>The cluster, e.g. <c>https://es.site.example:9200</c>.</summary>
    public string? Url { get; set; }

    /// <summary>An API key (base64 <c>id:key</c>), when the cluster wants one.</summary>
    public string? ApiKey { get; set; }

    /// <summary>The indices (or data streams) holding log documents, read by every query.</summary>
    public string IndexPattern { get; set; } = "logs-*";

    /// <summary>Where the logs service writes when it is itself the OTLP receiver.</summary>
    public string WriteIndex { get; set; } = "logs-shoppe.otel-default";

    public string TimestampField { get; set; } = "@timestamp";

    public string MessageField { get; set; } = "body.text";

    public string SeverityField { get; set; } = "severity_number";

    public string ServiceField { get; set; } = "resource.attributes.service.name";

    public string RequestIdField { get; set; } = "attributes.shoppe.request_id";

    public string EndUserField { get; set; } = "attributes.enduser.id";

    public string RequestStateField { get; set; } = "attributes.shoppe.request_state";

    public string TraceIdField { get; set; } = "trace_id";

    public string SpanIdField { get; set; } = "span_id";

    /// <summary>
    /// The sort that breaks ties between records of the same time, for <c>search_after</c> paging. <c>_doc</c>
    /// is exact within one shard; a site with multi-shard log indices should name a unique keyword field.
    /// </summary>
    public string TiebreakerField { get; set; } = "_doc";

    /// <summary>Summaries count at most this many records.</summary>
    public int MaxSummaryRecords { get; set; } = 100_000;

    /// <summary>
    /// The most descendants of one request where other users wrote that a user's read of the request looks at one
    /// by one (to leave out the unattributed records of those another user owns); past it, no descendant's
    /// unattributed records are shown to that user.
    /// </summary>
    public int MaxForeignDescendants { get; set; } = 1_000;
}

/// <summary>
/// The site store: reads (and, when the logs service is the receiver, writes) the log documents of a
/// site's Elasticsearch with the official client. Users never see an Elasticsearch query; they use the
/// same API as on one machine.
/// </summary>
public sealed class ElasticsearchLogStore(ElasticsearchClient client, ElasticsearchLogStoreOptions options) : ILogStore
{
    private static readonly string[] FinishedStates = ["finished", "failed", "cancelled"];

    /// <inheritdoc />
    public async Task AppendAsync(IReadOnlyList<LogRecordRow> records, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(records);
        if (records.Count == 0)
        {
            return;
        }

        var request = new BulkRequest(options.WriteIndex)
        {
            Operations = [.. records.Select(r => new BulkCreateOperation<JsonObject>(ToDocument(r)))],
        };
        var response = await client.BulkAsync(request, cancellationToken);
        if (!response.IsValidResponse || response.Errors)
        {
            var reason = response.ItemsWithErrors.FirstOrDefault()?.Error?.Reason ?? response.ElasticsearchServerError?.Error?.Reason ?? response.DebugInformation;
            throw new InvalidOperationException($"Elasticsearch refused the batch: {reason}");
        }
    }

    /// <summary>A record as the collector's exporter would have written it.</summary>
    internal JsonObject ToDocument(LogRecordRow r)
    {
        var doc = new JsonObject();
        Set(doc, options.TimestampField, JsonValue.Create(FormatNanos(r.TimeUnixNano)));
        Set(doc, options.MessageField, JsonValue.Create(r.Message));
        Set(doc, options.SeverityField, JsonValue.Create(r.Severity));
        Set(doc, options.ServiceField, JsonValue.Create(r.Service));
        if (r.RequestId.Length > 0)
        {
            Set(doc, options.RequestIdField, JsonValue.Create(r.RequestId));
        }

        if (r.EndUser is not null)
        {
            Set(doc, options.EndUserField, JsonValue.Create(r.EndUser));
        }

        if (r.TraceId is not null)
        {
            Set(doc, options.TraceIdField, JsonValue.Create(r.TraceId));
        }

        if (r.SpanId is not null)
        {
            Set(doc, options.SpanIdField, JsonValue.Create(r.SpanId));
        }

        if (r.AttributesJson is not null && JsonNode.Parse(r.AttributesJson) is JsonObject attributes)
        {
            foreach (var (key, value) in attributes)
            {
                // Attributes keep their dotted names under "attributes", as the exporter's otel mode does.
                var container = doc["attributes"] as JsonObject ?? (JsonObject)(doc["attributes"] = new JsonObject());
                if (!container.ContainsKey(key))
                {
                    container[key] = value?.DeepClone();
                }
            }
        }

        // A record that ends its request says so where readers look, even when its attributes (which carry the
        // state as the service wrote it) did not come with it.
        if (r.FinishesRequest && Get(doc, options.RequestStateField) is null)
        {
            Set(doc, options.RequestStateField, JsonValue.Create("finished"));
        }

        return doc;
    }

    /// <inheritdoc />
    public async Task<RequestInfo?> GetRequestAsync(string requestId, bool descendants, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(requestId);
        var tree = OfTree(requestId, descendants);
        var first = await FirstAsync(tree, ascending: true, extra: null, cancellationToken);
        if (first is null)
        {
            return null;
        }

        var self = OfTree(requestId, descendants: false);
        var last = await FirstAsync(tree, ascending: false, extra: null, cancellationToken);
        var endUser = new ExistsQuery(new Field(options.EndUserField));
        // The owner is the first user seen on the request itself; while it has no record, on its descendants.
        var owned = await FirstAsync(self, ascending: true, endUser, cancellationToken);
        if (owned is null && descendants && Read(first.Value.Value, options.RequestIdField) != requestId
            && await FirstAsync(self, ascending: true, extra: null, cancellationToken) is null)
        {
            owned = await FirstAsync(OfDescendants(requestId), ascending: true, endUser, cancellationToken);
        }

        // Only the request's own end ends it: a descendant's does not.
        var finished = await FirstAsync(self, ascending: true,
            new TermsQuery { Field = new Field(options.RequestStateField), Terms = new TermsQueryField([.. FinishedStates.Select(FieldValue.String)]) },
            cancellationToken);
        return new RequestInfo(requestId, owned is { } o ? Read(o.Value, options.EndUserField) : null, first.Value.Time, last!.Value.Time, finished is not null, descendants);
    }

    /// <inheritdoc />
    public async Task<LogPage> QueryAsync(LogQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        return await QueryAsync(query, await ForeignAsync(query.RequestId, query.Descendants, query.VisibleTo, cancellationToken), cancellationToken);
    }

    private async Task<LogPage> QueryAsync(LogQuery query, IReadOnlyList<string>? foreign, CancellationToken cancellationToken)
    {
        var search = BuildSearch(query, foreign);
        var response = await client.SearchAsync<JsonElement>(search, cancellationToken);
        var hits = Hits(response);
        var records = hits.Take(query.Limit).Select(h => ToEntry(query.RequestId, h)).ToList();
        return new LogPage(records, hits.Count > query.Limit ? records[^1].Cursor : null);
    }

    /// <summary>
    /// The descendants of <paramref name="requestId"/> that another user than <paramref name="reader"/> owns (whose
    /// first user was someone else): their unattributed records are not the reader's. Elasticsearch keeps no owners,
    /// so first a terms aggregation names the descendants where anyone else wrote (usually none: then that is all),
    /// then one search collapsed on the request id finds the first user of each. Null when more than
    /// <see cref="ElasticsearchLogStoreOptions.MaxForeignDescendants"/> would have to be named.
    /// </summary>
    internal async Task<IReadOnlyList<string>?> ForeignDescendantsAsync(string requestId, string reader, CancellationToken cancellationToken)
    {
        var touched = await TouchedByOthersAsync(requestId, reader, cancellationToken);
        if (touched is not { Count: > 0 })
        {
            return touched;
        }

        var response = await client.SearchAsync<JsonElement>(new SearchRequest(Indices.Parse(options.IndexPattern))
        {
            Query = new BoolQuery
            {
                Filter =
                [
                    new TermsQuery { Field = new Field(options.RequestIdField), Terms = new TermsQueryField([.. touched.Select(FieldValue.String)]) },
                    new ExistsQuery(new Field(options.EndUserField)),
                ],
            },
            Sort = Order(ascending: true),
            Collapse = new Elastic.Clients.Elasticsearch.Core.Search.FieldCollapse { Field = new Field(options.RequestIdField) },
            Size = touched.Count,
            TrackTotalHits = new Elastic.Clients.Elasticsearch.Core.Search.TrackHits(false),
        }, cancellationToken);
        var firstUsers = Hits(response)
            .Select(h => (Request: Read(h.Source, options.RequestIdField), User: Read(h.Source, options.EndUserField)))
            .Where(f => f.Request is not null && f.User is not null)
            .ToDictionary(f => f.Request!, f => f.User!, StringComparer.Ordinal);
        // A descendant the second search did not answer for is left out too: never looser than asked.
        return [.. touched.Where(id => !firstUsers.TryGetValue(id, out var user) || user != reader)];
    }

    /// <summary>The descendants where someone other than <paramref name="reader"/> wrote, or null for too many.</summary>
    private async Task<IReadOnlyList<string>?> TouchedByOthersAsync(string requestId, string reader, CancellationToken cancellationToken)
    {
        var response = await client.SearchAsync<JsonElement>(new SearchRequest(Indices.Parse(options.IndexPattern))
        {
            Query = new BoolQuery
            {
                Filter = [OfDescendants(requestId), new ExistsQuery(new Field(options.EndUserField))],
                MustNot = [new TermQuery(new Field(options.EndUserField), FieldValue.String(reader))],
            },
            Size = 0,
            TrackTotalHits = new Elastic.Clients.Elasticsearch.Core.Search.TrackHits(false),
            Aggregations = new Dictionary<string, Elastic.Clients.Elasticsearch.Aggregations.Aggregation>
            {
                [ForeignAggregation] = new Elastic.Clients.Elasticsearch.Aggregations.TermsAggregation
                {
                    Field = new Field(options.RequestIdField),
                    Size = options.MaxForeignDescendants,
                },
            },
        }, cancellationToken);
        if (!response.IsValidResponse)
        {
            var reason = response.ElasticsearchServerError?.Error?.Reason ?? response.DebugInformation;
            throw new InvalidOperationException($"Elasticsearch search failed: {reason}");
        }

        // An answer without the aggregation, or one that left some out, names too few: then none is named.
        var terms = response.Aggregations?.GetStringTerms(ForeignAggregation);
        return terms is null || terms.SumOtherDocCount > 0 ? null : [.. terms.Buckets.Select(b => b.Key.ToString())];
    }

    private const string ForeignAggregation = "foreign";

    private async Task<IReadOnlyList<string>?> ForeignAsync(string requestId, bool descendants, string? visibleTo, CancellationToken cancellationToken) =>
        descendants && visibleTo is not null ? await ForeignDescendantsAsync(requestId, visibleTo, cancellationToken) : [];

    /// <summary>The request itself, and with <paramref name="descendants"/> every request whose id starts with its id and ':'.</summary>
    private EsQuery OfTree(string requestId, bool descendants)
    {
        var self = new TermQuery(new Field(options.RequestIdField), FieldValue.String(requestId));
        return descendants ? new BoolQuery { Should = [self, OfDescendants(requestId)], MinimumShouldMatch = 1 } : self;
    }

    /// <summary>
    /// A prefix query on the keyword field: the terms dictionary is walked from <c>id:</c>, no script or wildcard. A
    /// longer id that merely starts with the same characters (<c>W10</c> for <c>W1</c>) does not have the ':'.
    /// </summary>
    private PrefixQuery OfDescendants(string requestId) =>
        new(new Field(options.RequestIdField), requestId + RequestTrees.Separator);

    /// <summary>The search a query becomes: filters, time order with a tiebreaker, search_after paging.</summary>
    /// <param name="query">What the reader asks.</param>
    /// <param name="foreign">
    /// Descendants whose unattributed records the reader may not see (<see cref="ForeignDescendantsAsync"/>); null for
    /// too many to name, which hides every descendant's unattributed records.
    /// </param>
    internal SearchRequest BuildSearch(LogQuery query, IReadOnlyList<string>? foreign)
    {
        var filters = new List<EsQuery> { OfTree(query.RequestId, query.Descendants) };
        if (query.MinSeverity > 0)
        {
            filters.Add(new NumberRangeQuery(new Field(options.SeverityField)) { Gte = query.MinSeverity });
        }

        if (query.Service is not null)
        {
            filters.Add(new TermQuery(new Field(options.ServiceField), FieldValue.String(query.Service)));
        }

        if (query.SinceUnixNano is not null || query.UntilUnixNano is not null)
        {
            filters.Add(new DateRangeQuery(new Field(options.TimestampField))
            {
                Gte = query.SinceUnixNano is { } s ? DateMath.Anchored(FormatNanos(s)) : null,
                Lt = query.UntilUnixNano is { } u ? DateMath.Anchored(FormatNanos(u)) : null,
                Format = "strict_date_optional_time_nanos",
            });
        }

        if (query.VisibleTo is not null)
        {
            // Records written for someone else are not the reader's; nor are the unattributed records of a
            // descendant where someone else wrote.
            var unattributed = new BoolQuery { MustNot = [new ExistsQuery(new Field(options.EndUserField))] };
            if (foreign is null)
            {
                unattributed.Filter = [OfTree(query.RequestId, descendants: false)];
            }
            else if (foreign.Count > 0)
            {
                unattributed.MustNot =
                [
                    new ExistsQuery(new Field(options.EndUserField)),
                    new TermsQuery { Field = new Field(options.RequestIdField), Terms = new TermsQueryField([.. foreign.Select(FieldValue.String)]) },
                ];
            }

            filters.Add(new BoolQuery
            {
                Should = [unattributed, new TermQuery(new Field(options.EndUserField), FieldValue.String(query.VisibleTo))],
                MinimumShouldMatch = 1,
            });
        }

        var must = new List<EsQuery>();
        if (query.Words is not null)
        {
            must.Add(new MatchQuery(new Field(options.MessageField), string.Join(' ', query.Words)) { Operator = Operator.And });
        }

        var search = new SearchRequest(Indices.Parse(options.IndexPattern))
        {
            Query = new BoolQuery { Filter = filters, Must = must },
            Sort = Order(ascending: true),
            Size = query.Limit + 1,
            TrackTotalHits = new Elastic.Clients.Elasticsearch.Core.Search.TrackHits(false),
        };
        if (query.After is { } after)
        {
            search.SearchAfter = [FieldValue.Long(after.TimeUnixNano), FieldValue.Long(after.Id)];
        }

        return search;
    }

    /// <inheritdoc />
    public async Task<RequestSummary> SummarizeAsync(RequestInfo request, string? visibleTo, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var requestId = request.RequestId;
        var byLevel = new SortedDictionary<string, long>(StringComparer.Ordinal);
        var byService = new SortedDictionary<string, long>(StringComparer.Ordinal);
        LogEntry? firstError = null;
        long total = 0;
        LogCursor? after = null;
        var foreign = await ForeignAsync(requestId, request.Descendants, visibleTo, cancellationToken);
        do
        {
            var page = await QueryAsync(new LogQuery(requestId, 0, null, null, null, null, after, 5000, visibleTo, request.Descendants), foreign, cancellationToken);
            foreach (var e in page.Records)
            {
                total++;
                byLevel[e.Level] = byLevel.GetValueOrDefault(e.Level) + 1;
                byService[e.Service] = byService.GetValueOrDefault(e.Service) + 1;
                if (firstError is null && e.Severity >= 17)
                {
                    firstError = e;
                }
            }

            after = page.Next;
        }
        while (after is not null && total < options.MaxSummaryRecords);

        return new RequestSummary(request, total, byLevel, byService, firstError);
    }

    private async Task<(JsonElement Value, long Time)?> FirstAsync(EsQuery requests, bool ascending, EsQuery? extra, CancellationToken cancellationToken)
    {
        var filters = new List<EsQuery> { requests };
        if (extra is not null)
        {
            filters.Add(extra);
        }

        var response = await client.SearchAsync<JsonElement>(new SearchRequest(Indices.Parse(options.IndexPattern))
        {
            Query = new BoolQuery { Filter = filters },
            Sort = Order(ascending),
            Size = 1,
            TrackTotalHits = new Elastic.Clients.Elasticsearch.Core.Search.TrackHits(false),
        }, cancellationToken);
        var hit = Hits(response).FirstOrDefault();
        return hit is null ? null : (hit.Source, SortLong(hit, 0));
    }

    private List<SortOptions> Order(bool ascending)
    {
        var order = ascending ? SortOrder.Asc : SortOrder.Desc;
        return
        [
            new SortOptions { Field = new FieldSort(new Field(options.TimestampField)) { Order = order, NumericType = FieldSortNumericType.DateNanos } },
            new SortOptions { Field = new FieldSort(new Field(options.TiebreakerField)) { Order = order } },
        ];
    }

    private static List<Elastic.Clients.Elasticsearch.Core.Search.Hit<JsonElement>> Hits(SearchResponse<JsonElement> response)
    {
        if (!response.IsValidResponse)
        {
            var reason = response.ElasticsearchServerError?.Error?.Reason ?? response.DebugInformation;
            throw new InvalidOperationException($"Elasticsearch search failed: {reason}");
        }

        return [.. response.HitsMetadata.Hits];
    }

    private LogEntry ToEntry(string requestId, Elastic.Clients.Elasticsearch.Core.Search.Hit<JsonElement> hit)
    {
        var source = hit.Source;
        var time = SortLong(hit, 0);
        var severity = Read(source, options.SeverityField) is { } sev && int.TryParse(sev, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : 0;
        return new LogEntry(
            SortLong(hit, 1),
            Read(source, options.RequestIdField) ?? requestId,
            time,
            Read(source, options.ServiceField) ?? "unknown",
            severity,
            Read(source, options.MessageField) ?? "",
            ReadAttributes(source),
            Read(source, options.TraceIdField),
            Read(source, options.SpanIdField));
    }

    private static long SortLong(Elastic.Clients.Elasticsearch.Core.Search.Hit<JsonElement> hit, int index)
    {
        var value = hit.Sort?.ElementAtOrDefault(index);
        return value is { IsLong: true } v ? (long)v.Value! : value is { IsDouble: true } d ? (long)(double)d.Value! : 0;
    }

    private static string? ReadAttributes(JsonElement source) =>
        source.ValueKind == JsonValueKind.Object && source.TryGetProperty("attributes", out var a) && a.ValueKind == JsonValueKind.Object
            ? a.GetRawText()
            : null;

    /// <summary>
    /// A field of a document by its dotted path, whether the document nests objects
    /// (<c>{"resource":{"attributes":{"service":{"name":…}}}}</c>) or keeps dotted keys
    /// (<c>{"resource":{"attributes":{"service.name":…}}}</c>) — exporters write both.
    /// </summary>
    internal static string? Read(JsonElement node, string path)
    {
        if (node.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        if (node.TryGetProperty(path, out var whole))
        {
            return whole.ValueKind switch
            {
                JsonValueKind.String => whole.GetString(),
                JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => whole.GetRawText(),
                _ => null,
            };
        }

        for (var dot = path.IndexOf('.', StringComparison.Ordinal); dot > 0; dot = path.IndexOf('.', dot + 1))
        {
            if (node.TryGetProperty(path[..dot], out var child) && Read(child, path[(dot + 1)..]) is { } found)
            {
                return found;
            }
        }

        return null;
    }

    private static void Set(JsonObject doc, string path, JsonNode? value)
    {
        var parts = path.Split('.');
        var prefix = NestedParts(parts);
        var current = doc;
        for (var i = 0; i < prefix; i++)
        {
            current = current[parts[i]] as JsonObject ?? (JsonObject)(current[parts[i]] = new JsonObject());
        }

        current[string.Join('.', parts[prefix..])] = value;
    }

    /// <summary>What <see cref="Set"/> put at <paramref name="path"/>, or null.</summary>
    private static JsonNode? Get(JsonObject doc, string path)
    {
        var parts = path.Split('.');
        var prefix = NestedParts(parts);
        JsonObject? current = doc;
        for (var i = 0; i < prefix && current is not null; i++)
        {
            current = current[parts[i]] as JsonObject;
        }

        return current?[string.Join('.', parts[prefix..])];
    }

    /// <summary>
    /// How many parts of a field's name are nested objects: top-level names like "@timestamp" and the first segment
    /// nest; the rest of an attribute name keeps its dots.
    /// </summary>
    private static int NestedParts(string[] parts) =>
        parts[0] is "attributes" or "resource" ? (parts.Length > 2 && parts[1] == "attributes" ? 2 : 1) : parts.Length - 1;

    private static string FormatNanos(long unixNano)
    {
        var time = DateTimeOffset.UnixEpoch.AddTicks(unixNano / 100).UtcDateTime;
        return time.ToString("yyyy-MM-ddTHH:mm:ss.fffffff", CultureInfo.InvariantCulture) + (unixNano % 100).ToString("00", CultureInfo.InvariantCulture) + "Z";
    }
}
