using System.Reflection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Shoppe.ServiceDefaults.Figures;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Shoppe.ServiceDefaults;
using Shoppe.ServiceDefaults.Health;
using Shoppe.ServiceDefaults.RequestIds;
using Shoppe.ServiceDefaults.Versioning;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// The defaults every Coffea Shoppe service starts with: OpenTelemetry over OTLP, health endpoints,
/// service discovery, resilient HTTP clients, RFC 9457 problem details and the request-id thread.
/// </summary>
public static class ShoppeServiceDefaultsExtensions
{
    /// <summary>Liveness: the process answers. Readiness (<c>/health</c>) runs every check.</summary>
    public const string AlivenessEndpointPath = "/alive";

    /// <summary>Readiness: every health check passes.</summary>
    public const string HealthEndpointPath = "/health";

    private const string LiveTag = "live";

    /// <summary>Adds the Coffea Shoppe service defaults to a web application.</summary>
    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        // Shoppe:ServiceName names the service where its assembly name does not (tests, renamed hosts).
        var serviceName = builder.Configuration["Shoppe:ServiceName"] is { Length: > 0 } configured
            ? configured
            : ShoppeServiceInfo.ServiceNameFor(builder.Environment.ApplicationName);
        var entry = Assembly.GetEntryAssembly();
        var info = entry is null
            ? new ShoppeServiceInfo(serviceName, "0.0.0", "0.0.0", null, Environment.Version.ToString())
            : ShoppeServiceInfo.FromAssembly(serviceName, entry);
        builder.Services.AddSingleton(info);

        builder.Services.AddOptions<ShoppeHostOptions>()
            .BindConfiguration(ShoppeHostOptions.SectionName)
            .PostConfigure(o =>
            {
                if (string.IsNullOrWhiteSpace(o.DataRoot))
                {
                    o.DataRoot = Path.Combine(
                        Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.DoNotVerify),
                        "coffea-shoppe",
                        serviceName);
                }
            })
            .ValidateDataAnnotations()
            .ValidateOnStart();

        builder.ConfigureOpenTelemetry(info);
        builder.AddDefaultHealthChecks();

        builder.Services.AddProblemDetails(o => o.CustomizeProblemDetails = ctx =>
        {
            ctx.ProblemDetails.Instance ??= $"{ctx.HttpContext.Request.Method} {ctx.HttpContext.Request.Path}";
            if (ctx.HttpContext.Features.Get<IRequestIdFeature>() is { } feature)
            {
                ctx.ProblemDetails.Extensions["requestId"] = feature.RequestId;
            }
        });
        builder.Services.AddTransient<IStartupFilter, ServiceDefaultsStartupFilter>();
        builder.Services.AddSingleton<RequestAccessLog>();
        builder.Services.AddSingleton<ServiceFigures>();
        // One clock for the whole service, so tests can move it instead of sleeping.
        builder.Services.TryAddSingleton(TimeProvider.System);

        builder.Services.AddServiceDiscovery();
        builder.Services.AddTransient<RequestIdPropagationHandler>();
        builder.Services.ConfigureHttpClientDefaults(http =>
        {
            http.AddHttpMessageHandler<RequestIdPropagationHandler>();
            http.AddStandardResilienceHandler();
            http.AddServiceDiscovery();
        });

        return builder;
    }

    /// <summary>
    /// OpenTelemetry traces, metrics and logs, exported over OTLP when the standard
    /// <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> variable names a collector.
    /// </summary>
    public static TBuilder ConfigureOpenTelemetry<TBuilder>(this TBuilder builder, ShoppeServiceInfo info)
        where TBuilder : IHostApplicationBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(info);

        // One line per record on the console, scopes (the request id) included: what an operator tails.
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.IncludeScopes = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
            o.UseUtcTimestamp = true;
            // Colour codes are noise in captured output (the AppHost, CI logs, files).
            o.ColorBehavior = Console.IsOutputRedirected ? LoggerColorBehavior.Disabled : LoggerColorBehavior.Default;
        });
        // Log records become OpenTelemetry records only where something exports them: made for nobody, they
        // cost the cache a third of its small-read rate (docs/performance.md, "Cache").
        var otlpEndpoint = builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"];
        var logsEndpoint = builder.Configuration["Shoppe:Logs:Endpoint"];
        var exportsLogs = !string.IsNullOrWhiteSpace(otlpEndpoint) || Uri.TryCreate(logsEndpoint, UriKind.Absolute, out _);
        if (exportsLogs)
        {
            builder.Logging.AddOpenTelemetry(logging =>
            {
                logging.IncludeFormattedMessage = true;
                // Scopes carry shoppe.request_id onto every log record.
                logging.IncludeScopes = true;
            });
        }

        var otel = builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource =>
            {
                // OTEL_SERVICE_NAME (set by the AppHost) wins; otherwise the service names itself.
                if (string.IsNullOrEmpty(builder.Configuration["OTEL_SERVICE_NAME"]))
                {
                    resource.AddService(info.Service, serviceNamespace: "coffea-shoppe", serviceVersion: info.Version);
                }

                resource.AddAttributes([new("shoppe.stack_version", info.StackVersion)]);
            });

        // Traces are always set up, so trace context and the request id's W3C baggage travel on every outgoing call
        // the same way; but spans are recorded (and metrics made) only where a collector takes them: made for
        // nobody, the instrumentation of every request cost the cache's small reads a few percent
        // (docs/performance.md, "Cache").
        var exportsTelemetry = !string.IsNullOrWhiteSpace(otlpEndpoint);
        otel.WithTracing(tracing =>
        {
            tracing.AddSource(builder.Environment.ApplicationName)
                .AddSource("Shoppe.*")
                .AddAspNetCoreInstrumentation(o =>
                    // Probes would drown the traces that matter.
                    o.Filter = ctx => !ctx.Request.Path.StartsWithSegments(HealthEndpointPath)
                                      && !ctx.Request.Path.StartsWithSegments(AlivenessEndpointPath))
                .AddHttpClientInstrumentation();
            if (exportsTelemetry)
            {
                // Per signal rather than UseOtlpExporter(): logs may also go to the logs service below, and
                // OpenTelemetry refuses the cross-cutting exporter beside a signal-specific one.
                tracing.AddOtlpExporter();
            }
            else
            {
                tracing.SetSampler(new AlwaysOffSampler());
            }
        });
        if (exportsTelemetry)
        {
            otel.WithMetrics(metrics => metrics
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddMeter("Shoppe.*")
                .AddOtlpExporter());
            builder.Logging.AddOpenTelemetry(logging => logging.AddOtlpExporter());
        }

        // On one machine the logs service is itself an OTLP/HTTP receiver: every record also goes there, so
        // its user can read it back by request id (Shoppe:Logs:Endpoint and the service token the AppHost gives).
        if (Uri.TryCreate(logsEndpoint, UriKind.Absolute, out var logsUri))
        {
            var token = builder.Configuration["Shoppe:Logs:Token"];
            builder.Logging.AddOpenTelemetry(logging => logging.AddOtlpExporter("shoppe-logs", exporter =>
            {
                exporter.Endpoint = new Uri(logsUri, "/v1/logs");
                exporter.Protocol = OtlpExportProtocol.HttpProtobuf;
                exporter.Headers = string.IsNullOrEmpty(token) ? null : $"Authorization=Bearer {token}";
            }));
        }

        return builder;
    }

    /// <summary>Health checks: liveness, and readiness that includes the data folder.</summary>
    public static TBuilder AddDefaultHealthChecks<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddHealthChecks()
            .AddCheck("self", () => HealthCheckResult.Healthy(), [LiveTag])
            .AddCheck<DataRootHealthCheck>("data-root");
        return builder;
    }

    /// <summary>Maps <c>/health</c>, <c>/alive</c> and <c>/version</c>.</summary>
    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapHealthChecks(HealthEndpointPath);
        app.MapHealthChecks(AlivenessEndpointPath, new HealthCheckOptions { Predicate = r => r.Tags.Contains(LiveTag) });
        app.MapGet("/version", (ShoppeServiceInfo info) => TypedResults.Ok(info))
            .WithName("GetVersion")
            .WithSummary("The service's version and the stack version it belongs to.");
        app.MapGet("/figures", (ServiceFigures figures) => TypedResults.Ok(figures.Snapshot()))
            .RequireAuthorization(ServiceFigures.OperatorPolicy)
            .WithName("GetFigures")
            .WithSummary("The service's own figures since it started (what it exports over OpenTelemetry), for operators.");
        return app;
    }

    /// <summary>
    /// Puts the shared middleware at the front of every service's pipeline, so no service can forget it: problem
    /// details for exceptions and empty error responses, then the request-id thread.
    /// </summary>
    private sealed class ServiceDefaultsStartupFilter : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            // The figures count from the start, not from their first reader.
            _ = app.ApplicationServices.GetRequiredService<ServiceFigures>();
            app.UseExceptionHandler();
            app.UseStatusCodePages();
            app.UseMiddleware<RequestIdMiddleware>();
            next(app);
        };
    }
}
