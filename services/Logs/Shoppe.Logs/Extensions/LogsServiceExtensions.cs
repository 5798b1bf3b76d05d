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
        // The OTLP receiver reads bodies itself, within Logs:Ingest:MaxBodyBytes; Kestrel's own cap stays the backstop.
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = 1L << 30);
        return builder;
    }
}
