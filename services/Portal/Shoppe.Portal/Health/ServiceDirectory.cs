using System.Net.Http.Json;
using Microsoft.Extensions.Options;
using Shoppe.ServiceDefaults.Versioning;

namespace Shoppe.Portal.Health;

/// <summary>The state of one service as the portal last saw it.</summary>
/// <param name="Name">The service-discovery name.</param>
/// <param name="State"><c>healthy</c>, <c>unhealthy</c> or <c>unreachable</c>.</param>
/// <param name="Version">The service's own version, when it answered.</param>
/// <param name="StackVersion">The stack version the service was built for.</param>
/// <param name="Detail">Why it is not healthy, when it is not.</param>
/// <param name="ElapsedMs">How long the probe took.</param>
public sealed record ServiceStatus(string Name, string State, string? Version, string? StackVersion, string? Detail, double ElapsedMs)
{
    /// <summary>Whether this service runs the portal's own stack version.</summary>
    public bool MatchesStack(string stackVersion) => StackVersion == stackVersion;
}

/// <summary>
/// Asks every configured service for its <c>/health</c> and <c>/version</c>, concurrently, through the
/// shared HttpClient pipeline (so the caller's request id travels with each probe).
/// </summary>
public sealed class ServiceDirectory(HttpClient http, IOptions<PortalOptions> options, TimeProvider time, ProbeMemo memo)
{
    /// <summary>
    /// Every configured service's state, probed now under the caller's request id (each service logs the probe
    /// under it): what <c>/api/services</c> answers, for scripts that check the facility.
    /// </summary>
    public async Task<IReadOnlyList<ServiceStatus>> ProbeAllAsync(CancellationToken cancellationToken) =>
        await Task.WhenAll(options.Value.Services.Select(name => ProbeAsync(name, cancellationToken)));

    /// <summary>
    /// Every configured service's state for a page: probed at most once per <see cref="PortalOptions.ProbeEvery"/>
    /// whoever asks (readers at the same moment share one probe), so a busy page does not multiply calls into every
    /// service. The shared probe is nobody's request: it runs outside the reader's context and carries no request id.
    /// </summary>
    public Task<IReadOnlyList<ServiceStatus>> LatestAsync(CancellationToken cancellationToken) =>
        memo.GetAsync(options.Value.ProbeEvery, time, ProbeShared).WaitAsync(cancellationToken);

    private Task<IReadOnlyList<ServiceStatus>> ProbeShared()
    {
        using (ExecutionContext.SuppressFlow())
        {
            return Task.Run(() => ProbeAllAsync(CancellationToken.None));
        }
    }

    private async Task<ServiceStatus> ProbeAsync(string name, CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.Value.ProbeTimeout);
        try
        {
            var info = await http.GetFromJsonAsync(new Uri($"http://{name}/version"), PortalJsonContext.Default.ShoppeServiceInfo, timeout.Token);
            using var health = await http.GetAsync(new Uri($"http://{name}/health"), timeout.Token);
            var state = health.IsSuccessStatusCode ? "healthy" : "unhealthy";
            var detail = health.IsSuccessStatusCode ? null : await health.Content.ReadAsStringAsync(timeout.Token);
            return new ServiceStatus(name, state, info?.Version, info?.StackVersion, detail, Elapsed(started));
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or InvalidOperationException or System.Text.Json.JsonException
                                   && !cancellationToken.IsCancellationRequested)
        {
            return new ServiceStatus(name, "unreachable", null, null, ex.Message, Elapsed(started));
        }
    }

    private double Elapsed(long started) => time.GetElapsedTime(started).TotalMilliseconds;
}

/// <summary>The last probe of every service and when it began, shared by all readers (a singleton).</summary>
public sealed class ProbeMemo
{
    private readonly Lock _gate = new();
    private Task<IReadOnlyList<ServiceStatus>>? _last;
    private long _began;

    /// <summary>The last probe if it began less than <paramref name="every"/> ago (finished or not), else a new one.</summary>
    public Task<IReadOnlyList<ServiceStatus>> GetAsync(TimeSpan every, TimeProvider time, Func<Task<IReadOnlyList<ServiceStatus>>> probe)
    {
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(probe);
        lock (_gate)
        {
            if (_last is null || time.GetElapsedTime(_began) >= every || _last.IsFaulted)
            {
                _began = time.GetTimestamp();
                _last = probe();
            }

            return _last;
        }
    }
}
