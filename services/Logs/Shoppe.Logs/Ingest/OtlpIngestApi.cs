using System.Buffers;
using System.IO.Compression;
using System.IO.Pipelines;
using Google.Protobuf;
using Shoppe.Logs.Otlp.Collector;
using Shoppe.Logs.Storage;
using Shoppe.Security;

namespace Shoppe.Logs.Ingest;

/// <summary>The OTLP/HTTP logs receiver: <c>POST /v1/logs</c> with an <c>application/x-protobuf</c> body.</summary>
internal static partial class OtlpIngestApi
{
    private const string Protobuf = "application/x-protobuf";

    public static IEndpointRouteBuilder MapOtlpIngest(this IEndpointRouteBuilder routes)
    {
        routes.MapPost("/v1/logs", IngestAsync)
            .RequireAuthorization(ShoppeClaims.ServicePolicy)
            .WithName("OtlpIngestLogs")
            .WithSummary("OTLP/HTTP logs receiver (protobuf). Acknowledged records are durable.");
        return routes;
    }

    private static async Task<IResult> IngestAsync(HttpContext http, ILogStore store, LogsMetrics metrics, TimeProvider time, Microsoft.Extensions.Options.IOptions<LogsIngestOptions> options, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        var limit = options.Value.MaxBodyBytes;
        if (!string.Equals(http.Request.ContentType?.Split(';')[0].Trim(), Protobuf, StringComparison.OrdinalIgnoreCase))
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status415UnsupportedMediaType, title: "Unsupported content type",
                detail: $"OTLP/HTTP bodies must be {Protobuf}.");
        }

        if (http.Request.ContentLength > limit)
        {
            return TooLarge(limit);
        }

        var encoding = http.Request.Headers.ContentEncoding.ToString();
        Stream source = encoding switch
        {
            "" or "identity" => http.Request.Body,
            "gzip" => new GZipStream(http.Request.Body, CompressionMode.Decompress, leaveOpen: true),
            _ => Stream.Null,
        };
        if (source == Stream.Null)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status415UnsupportedMediaType, title: "Unsupported content encoding",
                detail: "Send the body plain or gzip-compressed.");
        }

        await using var _ = source == http.Request.Body ? null : source;
        var reader = PipeReader.Create(source, new StreamPipeReaderOptions(bufferSize: 64 * 1024, leaveOpen: true));
        ReadResult read;
        try
        {
            // Read the whole body, refusing it as soon as it (decompressed) passes the limit.
            while (true)
            {
                read = await reader.ReadAsync(cancellationToken);
                if (read.Buffer.Length > limit)
                {
                    await reader.CompleteAsync();
                    return TooLarge(limit);
                }

                if (read.IsCompleted)
                {
                    break;
                }

                reader.AdvanceTo(read.Buffer.Start, read.Buffer.End);
            }
        }
        catch (InvalidDataException ex)
        {
            await reader.CompleteAsync();
            return TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Malformed gzip body", detail: ex.Message);
        }

        var parsed = OtlpLogMapper.TryParse(read.Buffer, out var request, out var error);
        await reader.CompleteAsync();
        if (!parsed)
        {
            metrics.Rejected(1);
            return TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Malformed OTLP logs body",
                detail: $"The body is not an ExportLogsServiceRequest: {error}");
        }

        var rows = OtlpLogMapper.Map(request, time.GetUtcNow().ToUnixTimeMilliseconds() * 1_000_000);
        // Not the request's token: the append completes even if the exporter gives up waiting, so a
        // batch is either wholly stored or wholly not.
        await store.AppendAsync(rows, CancellationToken.None);
        metrics.Ingested(rows.Count);
        var logger = loggers.CreateLogger("Shoppe.Logs.Ingest");
        LogIngested(logger, rows.Count);
        return Results.Bytes(new ExportLogsServiceResponse().ToByteArray(), Protobuf);
    }

    private static Microsoft.AspNetCore.Http.HttpResults.ProblemHttpResult TooLarge(long limit) => TypedResults.Problem(statusCode: StatusCodes.Status413PayloadTooLarge,
        title: "OTLP body too large", detail: $"Bodies up to {limit} bytes (after decompression) are accepted; send smaller batches.");

    [LoggerMessage(EventId = 1, Level = LogLevel.Debug, Message = "Stored {Count} log records")]
    private static partial void LogIngested(ILogger logger, int count);
}
