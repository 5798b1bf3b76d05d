using System.Diagnostics.Metrics;

namespace Shoppe.Logs;

/// <summary>The logs service's meter: what it took in and what it refused.</summary>
public sealed class LogsMetrics
{
    /// <summary>The meter name.</summary>
    public const string MeterName = "Shoppe.Logs";

    private readonly Counter<long> _ingested;
    private readonly Counter<long> _rejected;
    private readonly Counter<long> _deleted;

    public LogsMetrics(IMeterFactory meters)
    {
        ArgumentNullException.ThrowIfNull(meters);
        var meter = meters.Create(MeterName);
        _ingested = meter.CreateCounter<long>("shoppe.logs.records.ingested", "{record}", "Log records stored");
        _rejected = meter.CreateCounter<long>("shoppe.logs.exports.rejected", "{export}", "OTLP exports refused as malformed");
        _deleted = meter.CreateCounter<long>("shoppe.logs.records.expired", "{record}", "Log records removed by retention");
    }

    public void Ingested(long count) => _ingested.Add(count);

    public void Rejected(long count) => _rejected.Add(count);

    public void Expired(long count) => _deleted.Add(count);
}
