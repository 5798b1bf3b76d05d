using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Shoppe.ServiceDefaults.Figures;

/// <summary>One of a service's own figures since it started, all its tags together.</summary>
/// <param name="Name">The instrument's name (<c>shoppe.cache.bytes</c>, <c>http.server.request.duration</c>).</param>
/// <param name="Unit">Its unit (<c>By</c>, <c>s</c>, <c>{file}</c>), when it has one.</param>
/// <param name="Description">What it counts.</param>
/// <param name="Kind"><c>counter</c> (a total), <c>gauge</c> (a value now) or <c>histogram</c> (how many, and their mean).</param>
/// <param name="Value">The total, the value now, or a histogram's sum.</param>
/// <param name="Count">A histogram's number of measurements.</param>
/// <param name="Mean">A histogram's mean.</param>
public sealed record ServiceFigure(string Name, string? Unit, string? Description, string Kind, double Value, long? Count, double? Mean);

/// <summary>
/// The service's own figures for its operators (<c>GET /figures</c>): the same instruments the service exports over
/// OpenTelemetry (its <c>Shoppe.*</c> meters, and the HTTP server's requests), kept in process since it started, so
/// an operator without a metrics backend (one machine, or a site that has none yet) can read them. Only this host's
/// meters count (those its <see cref="IMeterFactory"/> made, and process-wide ones), not another host's in the process.
/// </summary>
public sealed class ServiceFigures : IDisposable
{
    /// <summary>The authorization policy operators pass (registered by every service's security).</summary>
    public const string OperatorPolicy = "shoppe-operator";

    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<Instrument, Aggregate> _figures = new();

    public ServiceFigures(IMeterFactory meters)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            var ours = instrument.Meter.Scope is null || ReferenceEquals(instrument.Meter.Scope, meters);
            if (ours && (instrument.Meter.Name.StartsWith("Shoppe", StringComparison.Ordinal) || instrument.Name == "http.server.request.duration"))
            {
                // Its aggregate rides with each measurement: no lookup on the service's hot paths.
                var figure = _figures[instrument] = new Aggregate(KindOf(instrument));
                listener.EnableMeasurementEvents(instrument, figure);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, value, _, figure) => ((Aggregate)figure!).Add(value));
        _listener.SetMeasurementEventCallback<int>((_, value, _, figure) => ((Aggregate)figure!).Add(value));
        _listener.SetMeasurementEventCallback<double>((_, value, _, figure) => ((Aggregate)figure!).Add(value));
        _listener.Start();
    }

    /// <summary>Every figure now, by name (observable instruments observed at this moment).</summary>
    public IReadOnlyList<ServiceFigure> Snapshot()
    {
        lock (_listener)
        {
            // An observable instrument reports its whole value at each observation: start from nothing, then observe.
            foreach (var (instrument, figure) in _figures)
            {
                if (instrument.IsObservable)
                {
                    figure.Reset();
                }
            }

            _listener.RecordObservableInstruments();
            return _figures
                .Select(f => f.Value.Figure(f.Key))
                .OrderBy(f => f.Name, StringComparer.Ordinal)
                .ToList();
        }
    }

    public void Dispose() => _listener.Dispose();

    private static string KindOf(Instrument instrument)
    {
        var type = instrument.GetType().Name;
        return type.StartsWith("Histogram", StringComparison.Ordinal) ? "histogram"
            : type.StartsWith("ObservableGauge", StringComparison.Ordinal) || type.StartsWith("Gauge", StringComparison.Ordinal) ? "gauge"
            : "counter";
    }

    private sealed class Aggregate(string kind)
    {
        private readonly Lock _gate = new();
        private double _sum;
        private long _count;

        public void Add(double value)
        {
            lock (_gate)
            {
                _sum += value;
                _count++;
            }
        }

        public void Reset()
        {
            lock (_gate)
            {
                (_sum, _count) = (0, 0);
            }
        }

        public ServiceFigure Figure(Instrument instrument)
        {
            lock (_gate)
            {
                return kind == "histogram"
                    ? new ServiceFigure(instrument.Name, instrument.Unit, instrument.Description, kind, _sum, _count, _count == 0 ? null : _sum / _count)
                    : new ServiceFigure(instrument.Name, instrument.Unit, instrument.Description, kind, _sum, null, null);
            }
        }
    }
}
