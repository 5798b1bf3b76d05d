using System.Net.Http.Headers;
using Google.Protobuf;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Shoppe.Logs.Otlp.Collector;
using Shoppe.Logs.Otlp.Common;
using Shoppe.Logs.Otlp.Logs;
using Shoppe.Logs.Otlp.Resource;
using Shoppe.Security;

namespace Shoppe.Logs.Tests;

/// <summary>
/// The real logs service (its Program, its SQLite store in a temporary folder, the facility's token model
/// with a key of its own), in memory or on a loopback socket.
/// </summary>
public sealed class LogsServiceFactory(string? dataRoot = null, IDictionary<string, string?>? settings = null, bool kestrel = false)
    : ShoppeServiceFactory<Program>(dataRoot ?? Directory.CreateTempSubdirectory("shoppe-logs-").FullName,
        new Dictionary<string, string?> { ["Logs:Query:FollowPollInterval"] = "00:00:00.100" }, settings, port: kestrel ? 0 : null)
{
    // A folder the factory made is the factory's to remove; one a test passed in is the test's.
    private readonly bool _ownsDataRoot = dataRoot is null;

    public HttpClient ServiceClient() => ClientFor("delivery", ShoppeClaims.ServiceRole);

    /// <summary>Posts one OTLP export as a service would and fails the test unless it is acknowledged.</summary>
    public async Task ExportAsync(ExportLogsServiceRequest request)
    {
        using var client = ServiceClient();
        using var content = new ByteArrayContent(request.ToByteArray());
        content.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");
        using var response = await client.PostAsync("/v1/logs", content, TestContext.Current.CancellationToken);
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        if (_ownsDataRoot && Directory.Exists(DataRoot))
        {
            Directory.Delete(DataRoot, recursive: true);
        }
    }
}

/// <summary>Builds OTLP log exports the way an OpenTelemetry SDK writes them.</summary>
public static class Otlp
{
    public static readonly DateTimeOffset T0 = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);

    public sealed record Rec(string Message, string? RequestId = null, int Severity = 9, string? User = null,
        int OffsetMs = 0, string? State = null, Dictionary<string, object>? Attributes = null);

    public static ExportLogsServiceRequest Batch(string service, params Rec[] records)
    {
        var scope = new ScopeLogs { Scope = new InstrumentationScope { Name = "Shoppe.Tests" } };
        foreach (var r in records)
        {
            var record = new LogRecord
            {
                TimeUnixNano = (ulong)((T0.AddMilliseconds(r.OffsetMs).UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) * 100),
                SeverityNumber = (SeverityNumber)r.Severity,
                SeverityText = ((SeverityNumber)r.Severity).ToString(),
                Body = new AnyValue { StringValue = r.Message },
                TraceId = ByteString.CopyFrom(Convert.FromHexString("0af7651916cd43dd8448eb211c80319c")),
                SpanId = ByteString.CopyFrom(Convert.FromHexString("b7ad6b7169203331")),
            };
            if (r.RequestId is not null)
            {
                record.Attributes.Add(Kv("shoppe.request_id", r.RequestId));
            }

            if (r.User is not null)
            {
                record.Attributes.Add(Kv("enduser.id", r.User));
            }

            if (r.State is not null)
            {
                record.Attributes.Add(Kv("shoppe.request_state", r.State));
            }

            foreach (var (k, v) in r.Attributes ?? [])
            {
                record.Attributes.Add(new KeyValue
                {
                    Key = k,
                    Value = v switch
                    {
                        long l => new AnyValue { IntValue = l },
                        int i => new AnyValue { IntValue = i },
                        double d => new AnyValue { DoubleValue = d },
                        bool b => new AnyValue { BoolValue = b },
                        _ => new AnyValue { StringValue = v.ToString() },
                    },
                });
            }

            scope.LogRecords.Add(record);
        }

        var resource = new ResourceLogs { Resource = new Resource() };
        resource.Resource.Attributes.Add(Kv("service.name", service));
        resource.ScopeLogs.Add(scope);
        var request = new ExportLogsServiceRequest();
        request.ResourceLogs.Add(resource);
        return request;
    }

    private static KeyValue Kv(string key, string value) => new() { Key = key, Value = new AnyValue { StringValue = value } };
}
