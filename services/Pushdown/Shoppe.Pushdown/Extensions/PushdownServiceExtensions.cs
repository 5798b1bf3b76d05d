using System.Net;
using Apache.Arrow.Flight.Server;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Shoppe.Pushdown.Flight;
using Shoppe.Pushdown.Scans;
using Shoppe.Pushdown.Storage;

namespace Shoppe.Pushdown.Extensions;

public static class PushdownServiceExtensions
{
    /// <summary>The pushdown node's options, storage, scan engine, Flight server, and the listener Flight needs.</summary>
    public static WebApplicationBuilder AddPushdownServices(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddOptions<PushdownOptions>().BindConfiguration(PushdownOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<StorageCatalog>();
        builder.Services.AddSingleton<ScanRegistry>();
        builder.Services.AddSingleton<ScanEngine>();
        builder.Services.AddSingleton<ScanService>();
        builder.Services.AddSingleton<Coordinator.NodeCoordinator>();
        builder.Services.AddSingleton<PushdownFlightServer>();
        builder.Services.AddGrpc().AddFlightServer<PushdownFlightServer>();
        builder.Services.TryAddSingleton(TimeProvider.System);

        if (builder.Configuration[$"{PushdownOptions.Section}:{nameof(PushdownOptions.FlightUrl)}"] is { Length: > 0 } flightUrl)
        {
            // gRPC without TLS needs an HTTP/2-only listener. A listener made in code replaces the configured URLs,
            // so those are listened on again beside it.
            var urls = builder.Configuration["urls"] ?? builder.Configuration["ASPNETCORE_URLS"] ?? "http://127.0.0.1:5105";
            builder.WebHost.ConfigureKestrel(kestrel =>
            {
                foreach (var url in urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                {
                    Listen(kestrel, url, HttpProtocols.Http1AndHttp2);
                }

                Listen(kestrel, flightUrl, HttpProtocols.Http2);
            });
        }

        return builder;
    }

    private static void Listen(KestrelServerOptions kestrel, string url, HttpProtocols protocols)
    {
        var address = BindingAddress.Parse(url);
        if (address.Scheme != "http")
        {
            throw new InvalidOperationException($"'{url}': the pushdown node listens on plain http (TLS ends in front of it).");
        }

        void Configure(ListenOptions listen) => listen.Protocols = protocols;
        if (address.Host is "localhost")
        {
            kestrel.ListenLocalhost(address.Port, Configure);
        }
        else if (IPAddress.TryParse(address.Host, out var ip))
        {
            kestrel.Listen(ip, address.Port, Configure);
        }
        else
        {
            kestrel.ListenAnyIP(address.Port, Configure);
        }
    }
}
