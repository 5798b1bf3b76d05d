using Microsoft.Extensions.Options;
using Shoppe.Logs.Ingest;
using Shoppe.Logs.Query;
using Shoppe.Logs.Storage;
using Shoppe.ServiceDefaults;

namespace Shoppe.Logs.Extensions;

internal static class LogsServiceExtensions
{
    public static WebApplicationBuilder AddLogsServices(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<LogsStoreOptions>().BindConfiguration(LogsStoreOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddOptions<LogsIngestOptions>().BindConfiguration(LogsIngestOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddOptions<LogsQueryOptions>().BindConfiguration(LogsQueryOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<LogsMetrics>();
        var kind = builder.Configuration[$"{LogsStoreOptions.SectionName}:Kind"] ?? "sqlite";
        if (string.Equals(kind, "elasticsearch", StringComparison.OrdinalIgnoreCase))
        {
            // At a site: the collector's indices in Elasticsearch; retention is the cluster's (ILM).
            builder.Services.AddOptions<ElasticsearchLogStoreOptions>().BindConfiguration(ElasticsearchLogStoreOptions.SectionName)
                .Validate(o => Uri.TryCreate(o.Url, UriKind.Absolute, out _), "Logs:Elasticsearch:Url must be the cluster's URL.")
                .ValidateOnStart();
            builder.Services.AddSingleton(sp =>
            {
                var o = sp.GetRequiredService<IOptions<ElasticsearchLogStoreOptions>>().Value;
                var settings = new Elastic.Clients.Elasticsearch.ElasticsearchClientSettings(new Uri(o.Url!));
                if (!string.IsNullOrEmpty(o.ApiKey))
                {
                    settings.Authentication(new Elastic.Transport.ApiKey(o.ApiKey));
                }

                return new Elastic.Clients.Elasticsearch.ElasticsearchClient(settings);
            });
            builder.Services.AddSingleton<ILogStore>(sp => new ElasticsearchLogStore(
                sp.GetRequiredService<Elastic.Clients.Elasticsearch.ElasticsearchClient>(),
                sp.GetRequiredService<IOptions<ElasticsearchLogStoreOptions>>().Value));
        }
        else
        {
            builder.Services.AddSingleton(sp =>
            {
                var store = sp.GetRequiredService<IOptions<LogsStoreOptions>>().Value;
                var path = string.IsNullOrWhiteSpace(store.SqlitePath)
                    ? Path.Combine(sp.GetRequiredService<IOptions<ShoppeHostOptions>>().Value.DataRoot, "logs.db")
                    : store.SqlitePath;
                return new SqliteLogStore(path);
            });
            builder.Services.AddSingleton<ILogStore>(sp => sp.GetRequiredService<SqliteLogStore>());
            builder.Services.AddHostedService<RetentionService>();
        }

        // The OTLP receiver reads bodies itself, within Logs:Ingest:MaxBodyBytes; Kestrel's own cap stays the backstop.
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = 1L << 30);
        return builder;
    }
}
