using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Shoppe.ServiceDefaults.Health;

/// <summary>
/// Ready only while the service's data folder exists and takes a write: a service whose disk has gone
/// read-only or full must not be sent work.
/// </summary>
internal sealed class DataRootHealthCheck(IOptions<ShoppeHostOptions> options) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var root = options.Value.DataRoot;
        try
        {
            Directory.CreateDirectory(root);
            var probe = Path.Combine(root, $".health-{Environment.ProcessId}");
            await File.WriteAllBytesAsync(probe, [1], cancellationToken);
            File.Delete(probe);
            return HealthCheckResult.Healthy($"data root {root} is writable");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return HealthCheckResult.Unhealthy($"data root {root} is not writable: {ex.Message}");
        }
    }
}
