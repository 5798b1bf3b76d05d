using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Shoppe.Http.AccessLines;
using Shoppe.Http.FrontLanes;
using Shoppe.Http.SendFile;
using Shoppe.ServiceDefaults.RequestIds;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// The HTTP data path a service opts into, each piece on its own: services that send file bytes at a high rate
/// (the cache, the transfer service, delivery's outputs) take what they measured a gain from; every other service
/// keeps plain Kestrel and the shared defaults.
/// </summary>
public static class ShoppeHttpExtensions
{
    /// <summary>
    /// File bytes leave by <c>sendfile(2)</c> on plain HTTP/1.x connections: <c>Results.File</c>, <c>PhysicalFile</c>
    /// and <see cref="ZeroCopySendFile.SendFileAsync"/> send without a copy where the connection allows it
    /// (<see cref="ZeroCopySendFile"/> says when, and why).
    /// </summary>
    public static TBuilder AddZeroCopySendFile<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        // Once: a second registration would wrap every connection in a second pump for nothing.
        if (IsRegistered<ZeroCopyFiles>(builder.Services))
        {
            return builder;
        }

        builder.Services.AddSingleton<ZeroCopyFiles>();
        builder.Services.Configure<KestrelServerOptions>(kestrel => kestrel.ConfigureEndpointDefaults(listen => listen.UseZeroCopySendFile()));
        AddDataPathFilter(builder.Services);
        return builder;
    }

    /// <summary>
    /// A front lane for the service's hottest requests (<see cref="FrontLane"/>), ahead of the whole shared
    /// pipeline. The lane is a singleton, resolvable as itself too.
    /// </summary>
    public static IHostApplicationBuilder AddFrontLane<TLane>(this IHostApplicationBuilder builder)
        where TLane : FrontLane
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.TryAddSingleton<TLane>();
        builder.Services.AddSingleton<FrontLane>(sp => sp.GetRequiredService<TLane>());
        AddDataPathFilter(builder.Services);
        return builder;
    }

    /// <summary>
    /// Endpoints marked <see cref="SummarizedAccessLogExtensions.WithSummarizedAccessLog{TBuilder}"/> (and front lanes)
    /// write one access line per request id and user every <c>Shoppe:AccessSummaryInterval</c> instead of one each.
    /// </summary>
    public static TBuilder AddSummarizedAccessLog<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        // Once: a second registration would run the summaries' background writer twice.
        if (IsRegistered<AccessSummaries>(builder.Services))
        {
            return builder;
        }

        builder.Services.AddOptions<AccessSummaryOptions>().BindConfiguration("Shoppe").ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<AccessSummaries>();
        builder.Services.AddSingleton<IAccessLineSummarizer>(sp => sp.GetRequiredService<AccessSummaries>());
        builder.Services.AddHostedService(sp => sp.GetRequiredService<AccessSummaries>());
        return builder;
    }

    // One filter for the data path, put first among the startup filters: its middleware must stand ahead of the
    // shared defaults' (a lane skips them; the zero-copy body must be what their exception handler sees).
    private static void AddDataPathFilter(IServiceCollection services)
    {
        if (!services.Any(d => d.ImplementationType == typeof(DataPathStartupFilter)))
        {
            services.Insert(0, ServiceDescriptor.Transient<IStartupFilter, DataPathStartupFilter>());
        }
    }

    private static bool IsRegistered<T>(IServiceCollection services) => services.Any(d => d.ServiceType == typeof(T));

    /// <summary>Marks a service that sends files without a copy.</summary>
    private sealed class ZeroCopyFiles;

    private sealed class DataPathStartupFilter : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            // A service's lanes for its hottest requests come first: they answer only what they need none of the rest for.
            if (app.ApplicationServices.GetService<IEnumerable<FrontLane>>()?.Any() == true)
            {
                app.UseMiddleware<FrontLaneMiddleware>();
            }

            if (app.ApplicationServices.GetService<ZeroCopyFiles>() is not null)
            {
                app.Use((context, nextMiddleware) =>
                {
                    if (ZeroCopySendFile.IsZeroCopy(context))
                    {
                        context.Features.Set<IHttpResponseBodyFeature>(new ZeroCopyResponseBodyFeature(context.Features.GetRequiredFeature<IHttpResponseBodyFeature>(), context));
                    }

                    return nextMiddleware(context);
                });
            }

            next(app);
        };
    }
}
