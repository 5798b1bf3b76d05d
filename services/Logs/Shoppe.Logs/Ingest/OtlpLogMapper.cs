using System.Buffers;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Shoppe.Logs.Otlp.Collector;
using Shoppe.Logs.Otlp.Common;
using Shoppe.Logs.Storage;
using Shoppe.ServiceDefaults;

namespace Shoppe.Logs.Ingest;

/// <summary>Turns an OTLP export request into rows for the store.</summary>
internal static class OtlpLogMapper
{
    private const string OriginalFormat = "{OriginalFormat}";

    public static List<LogRecordRow> Map(ExportLogsServiceRequest request, long receivedUnixNano)
    {
        var rows = new List<LogRecordRow>();
        var buffer = new ArrayBufferWriter<byte>(1024);
        foreach (var resourceLogs in request.ResourceLogs)
        {
            var service = "unknown";
            if (resourceLogs.Resource is { } resource)
            {
                foreach (var kv in resource.Attributes)
                {
                    if (kv.Key == "service.name" && kv.Value?.ValueCase == AnyValue.ValueOneofCase.StringValue)
                    {
                        service = kv.Value.StringValue;
                    }
                }
            }

            foreach (var scopeLogs in resourceLogs.ScopeLogs)
            {
                foreach (var record in scopeLogs.LogRecords)
                {
                    rows.Add(MapRecord(record, service, receivedUnixNano, buffer));
                }
            }
        }

        return rows;
    }

    private static LogRecordRow MapRecord(Otlp.Logs.LogRecord record, string service, long receivedUnixNano, ArrayBufferWriter<byte> buffer)
    {
        string requestId = "";
        string? endUser = null;
        string? template = null;
        var finishes = false;
        buffer.Clear();
        var hasAttributes = false;
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            foreach (var kv in record.Attributes)
            {
                switch (kv.Key)
                {
                    case ShoppeAttributes.RequestId when kv.Value?.ValueCase == AnyValue.ValueOneofCase.StringValue:
                        requestId = kv.Value.StringValue;
                        continue;
                    case ShoppeAttributes.EndUser when kv.Value?.ValueCase == AnyValue.ValueOneofCase.StringValue:
                        endUser = kv.Value.StringValue;
                        break;
                    case OriginalFormat when kv.Value?.ValueCase == AnyValue.ValueOneofCase.StringValue:
                        template = kv.Value.StringValue;
                        continue;
                    case ShoppeAttributes.RequestState when kv.Value?.ValueCase == AnyValue.ValueOneofCase.StringValue:
                        finishes = kv.Value.StringValue is "finished" or "failed" or "cancelled";
                        break;
                }

                json.WritePropertyName(kv.Key);
                WriteValue(json, kv.Value);
                hasAttributes = true;
            }

            json.WriteEndObject();
        }

        var message = record.Body is { } body && body.ValueCase != AnyValue.ValueOneofCase.None
            ? body.ValueCase == AnyValue.ValueOneofCase.StringValue ? body.StringValue : ToJson(body)
            : template ?? "";
        var time = record.TimeUnixNano != 0 ? record.TimeUnixNano
            : record.ObservedTimeUnixNano != 0 ? record.ObservedTimeUnixNano
            : (ulong)receivedUnixNano;
        var severity = (int)record.SeverityNumber;
        if (severity == 0 && Storage.LogLevels.TryMinSeverity(record.SeverityText, out var parsed))
        {
            severity = parsed;
        }

        return new LogRecordRow(
            requestId,
            (long)Math.Min(time, long.MaxValue),
            service,
            severity,
            message,
            hasAttributes ? Encoding.UTF8.GetString(buffer.WrittenSpan) : null,
            record.TraceId.IsEmpty ? null : Convert.ToHexStringLower(record.TraceId.Span),
            record.SpanId.IsEmpty ? null : Convert.ToHexStringLower(record.SpanId.Span),
            endUser,
            finishes);
    }

    private static string ToJson(AnyValue value)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer))
        {
            WriteValue(json, value);
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static void WriteValue(Utf8JsonWriter json, AnyValue? value)
    {
        switch (value?.ValueCase)
        {
            case AnyValue.ValueOneofCase.StringValue: json.WriteStringValue(value.StringValue); break;
            case AnyValue.ValueOneofCase.BoolValue: json.WriteBooleanValue(value.BoolValue); break;
            case AnyValue.ValueOneofCase.IntValue: json.WriteNumberValue(value.IntValue); break;
            case AnyValue.ValueOneofCase.DoubleValue when double.IsFinite(value.DoubleValue): json.WriteNumberValue(value.DoubleValue); break;
            case AnyValue.ValueOneofCase.DoubleValue: json.WriteStringValue(value.DoubleValue.ToString(System.Globalization.CultureInfo.InvariantCulture)); break;
            case AnyValue.ValueOneofCase.BytesValue: json.WriteBase64StringValue(value.BytesValue.Span); break;
            case AnyValue.ValueOneofCase.ArrayValue:
                json.WriteStartArray();
                foreach (var item in value.ArrayValue.Values)
                {
                    WriteValue(json, item);
                }

                json.WriteEndArray();
                break;
            case AnyValue.ValueOneofCase.KvlistValue:
                json.WriteStartObject();
                foreach (var kv in value.KvlistValue.Values)
                {
                    json.WritePropertyName(kv.Key);
                    WriteValue(json, kv.Value);
                }

                json.WriteEndObject();
                break;
            default: json.WriteNullValue(); break;
        }
    }

    /// <summary>Parses an OTLP/HTTP protobuf body; false (with the reason) for anything that is not one.</summary>
    public static bool TryParse(ReadOnlySequence<byte> body, out ExportLogsServiceRequest request, out string? error)
    {
        try
        {
            request = ExportLogsServiceRequest.Parser.ParseFrom(body);
            error = null;
            return true;
        }
        catch (InvalidProtocolBufferException ex)
        {
            request = new ExportLogsServiceRequest();
            error = ex.Message;
            return false;
        }
    }
}
