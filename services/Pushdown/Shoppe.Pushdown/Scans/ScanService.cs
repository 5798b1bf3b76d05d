using Apache.Arrow;
using Microsoft.Extensions.Options;
using Shoppe.Columnar.Selection;
using Shoppe.Pushdown.Client;
using Shoppe.Pushdown.Storage;

namespace Shoppe.Pushdown.Scans;

/// <summary>
/// What both wires (HTTP and Flight) do with a scan: check the request (before anything is read or sent), plan it
/// from the files' footers, run its ranges, and log each step under the scan's request id.
/// </summary>
public sealed partial class ScanService(StorageCatalog storage, ScanRegistry registry, ScanEngine engine, IOptions<PushdownOptions> options, ILogger<ScanService> logger) : IDisposable
{
    /// <summary>Plans read footers on the thread pool: as many at once as there are cores, the rest wait their turn.</summary>
    private readonly SemaphoreSlim _planning = new(Math.Max(2, Environment.ProcessorCount));

    /// <summary>Largest scan request accepted (a list of many paths fits).</summary>
    public const long MaxRequestBytes = 4 * 1024 * 1024;

    private readonly PushdownOptions _options = options.Value;

    public ScanRegistry Registry { get; } = registry;

    /// <summary>The request checked: columns and filter parse, every dataset resolves under the storage roots.</summary>
    /// <exception cref="ScanRequestException">A request the node refuses.</exception>
    /// <exception cref="SelectionException">A column or the filter does not parse.</exception>
    public ScanSpec Check(ScanRequest request, out string description)
    {
        ArgumentNullException.ThrowIfNull(request);
        var columns = request.Columns ?? [];
        if (columns.Count == 0)
        {
            throw new ScanRequestException(400, "No columns", "'columns' must list at least one column or expression.");
        }

        if (columns.Count > _options.MaxColumns)
        {
            throw new ScanRequestException(400, "Too many columns", $"A scan may ask for at most {_options.MaxColumns} columns.");
        }

        for (var c = 0; c < columns.Count; c++)
        {
            try
            {
                SelectionParser.ParseColumn(columns[c] ?? "");
            }
            catch (SelectionException ex) when (ex.Where is null)
            {
                throw new SelectionException(ex.Reason, ex.Text, ex.Position, ex.Column) { Where = $"column {c + 1}" };
            }
        }

        if (!string.IsNullOrWhiteSpace(request.Filter))
        {
            try
            {
                SelectionParser.Parse(request.Filter);
            }
            catch (SelectionException ex) when (ex.Where is null)
            {
                throw new SelectionException(ex.Reason, ex.Text, ex.Position, ex.Column) { Where = "filter" };
            }
        }

        var files = storage.Resolve(request.Dataset, out description);
        var joined = new List<IReadOnlyList<DatasetFile>>();
        foreach (var other in request.Join ?? [])
        {
            joined.Add(storage.Resolve(other, out var joinedName));
            description += " + " + joinedName;
        }

        return new ScanSpec(description, files, joined, [.. columns], string.IsNullOrWhiteSpace(request.Filter) ? null : request.Filter);
    }

    /// <summary>Plans a checked scan on a worker thread (footers are read synchronously), logging the plan.</summary>
    public async Task<ScanPlan> PlanAsync(ScanSpec spec, ScanState state, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(state);
        state.Files = spec.Files.Count;
        await _planning.WaitAsync(cancellationToken);
        ScanPlan plan;
        try
        {
            plan = await Task.Run(() => ScanPlanner.Plan(spec, _options.EndpointEvents, (_, ranges) => state.AddPlanned(ranges), cancellationToken), cancellationToken);
        }
        finally
        {
            _planning.Release();
        }

        state.RowGroups = plan.RowGroups;
        state.AddPruned(plan.RowGroupsPruned);
        state.Plan = plan;
        LogPlanned(logger, state.Id, spec.Dataset, spec.Files.Count, plan.Ranges.Count, plan.EventsToScan, plan.RowGroupsPruned, plan.RowGroups);
        return plan;
    }

    /// <summary>The batches of one range (see <see cref="ScanEngine"/>).</summary>
    public IAsyncEnumerable<RecordBatch> RunAsync(ScanSpec spec, ScanRange range, ScanState state, CancellationToken cancellationToken) =>
        engine.RunAsync(spec, range, state, cancellationToken);

    /// <summary>Ends a scan: its status, and a log record saying how it went.</summary>
    public void Finish(ScanState state, Exception? failure)
    {
        ArgumentNullException.ThrowIfNull(state);
        state.Finish(Registry.Clock.GetUtcNow(), failure is null ? null : Describe(failure));
        var status = state.Status();
        if (failure is null)
        {
            LogFinished(logger, state.Id, status.EventsScanned, status.EventsPassed, status.Batches, status.BytesRead, status.FirstBatchMilliseconds ?? 0);
        }
        else
        {
            LogFailed(logger, state.Id, status.Error!);
        }
    }

    public void Dispose() => _planning.Dispose();

    /// <summary>A failure as a user should read it.</summary>
    public static string Describe(Exception failure) => failure switch
    {
        SelectionException selection => $"{selection.Where ?? "selection"}: {selection.Message}",
        _ => failure.Message,
    };

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Scan {ScanId} of {Dataset}: {Files} files, {Ranges} ranges, {Events} events to read; {Pruned} of {RowGroups} row groups pruned by their statistics")]
    private static partial void LogPlanned(ILogger logger, string scanId, string dataset, int files, int ranges, long events, long pruned, long rowGroups);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Scan {ScanId} finished: {EventsScanned} events read, {EventsPassed} passed, {Batches} batches, {BytesRead} bytes of column chunks, first batch after {FirstBatchMs:F1} ms")]
    private static partial void LogFinished(ILogger logger, string scanId, long eventsScanned, long eventsPassed, long batches, long bytesRead, double firstBatchMs);

    [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "Scan {ScanId} failed: {Error}")]
    private static partial void LogFailed(ILogger logger, string scanId, string error);
}
