using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Shoppe.Testing;

/// <summary>
/// A real service host (Kestrel replaced by the in-memory test server) built with the same
/// <c>AddServiceDefaults()</c> every Coffea Shoppe service calls.
/// </summary>
public sealed class TestServiceHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly string _dataRoot;

    private TestServiceHost(WebApplication app, string dataRoot, CapturingLoggerProvider logs)
    {
        _app = app;
        _dataRoot = dataRoot;
        Logs = logs;
    }

    public CapturingLoggerProvider Logs { get; }

    public TestServer Server => _app.GetTestServer();

    /// <summary>The loopback address of a host started with Kestrel.</summary>
    public Uri Address => new(_app.Urls.First());

    public IServiceProvider Services => _app.Services;

    public HttpClient CreateClient() => Server.CreateClient();

    /// <summary>Stops the host as a service stops (hosted services' StopAsync), without disposing it.</summary>
    public Task StopAsync() => _app.StopAsync(TestContext.Current.CancellationToken);

    public static async Task<TestServiceHost> StartAsync(
        Action<WebApplication> map,
        Action<WebApplicationBuilder>? configure = null,
        string? dataRoot = null,
        string serviceName = "testing",
        bool kestrel = false)
    {
        var root = dataRoot ?? Directory.CreateTempSubdirectory("shoppe-defaults-").FullName;
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            ApplicationName = typeof(TestServiceHost).Assembly.GetName().Name,
            EnvironmentName = Environments.Production,
        });
        if (kestrel)
        {
            builder.WebHost.UseUrls("http://127.0.0.1:0");
        }
        else
        {
            builder.WebHost.UseTestServer();
        }

        builder.Configuration["Shoppe:DataRoot"] = root;
        builder.Configuration["Shoppe:ServiceName"] = serviceName;
        builder.AddServiceDefaults();
        var logs = new CapturingLoggerProvider();
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(logs);
        configure?.Invoke(builder);

        var app = builder.Build();
        app.MapDefaultEndpoints();
        map(app);
        await app.StartAsync(TestContext.Current.CancellationToken);
        return new TestServiceHost(app, root, logs);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync();
        try
        {
            if (Directory.Exists(_dataRoot))
            {
                Directory.Delete(_dataRoot, recursive: true);
            }
        }
        catch (IOException)
        {
            // best effort: a temp folder left behind is not a test failure
        }
    }
}

/// <summary>One captured log record with the scope values that were active when it was written.</summary>
public sealed record CapturedLog(string Category, LogLevel Level, string Message, IReadOnlyDictionary<string, object?> Scope);

/// <summary>Captures log records with their scopes, as an OpenTelemetry exporter would see them.</summary>
public sealed class CapturingLoggerProvider : ILoggerProvider, ISupportExternalScope
{
    private IExternalScopeProvider _scopes = new LoggerExternalScopeProvider();

    public ConcurrentQueue<CapturedLog> Records { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

    public void Dispose()
    {
    }

    private sealed class Logger(CapturingLoggerProvider owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => owner._scopes.Push(state);

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }

            var scope = new Dictionary<string, object?>();
            owner._scopes.ForEachScope(
                (value, acc) =>
                {
                    if (value is IEnumerable<KeyValuePair<string, object?>> pairs)
                    {
                        foreach (var (k, v) in pairs)
                        {
                            acc[k] = v;
                        }
                    }
                },
                scope);
            owner.Records.Enqueue(new CapturedLog(category, logLevel, formatter(state, exception), scope));
        }
    }
}
