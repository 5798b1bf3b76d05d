using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Options;
using Shoppe.Pushdown.Client;

namespace Shoppe.Pushdown.Scans;

/// <summary>One scan's progress, counted as its ranges run (by several Flight calls at once).</summary>
public sealed class ScanState(string id, string owner, string dataset, DateTimeOffset started)
{
    private readonly long _start = Stopwatch.GetTimestamp();
    private long _rowGroupsPruned;
    private long _rowGroupsSkipped;
    private long _eventsScanned;
    private long _eventsPassed;
    private long _batches;
    private long _bytesRead;
    private long _firstBatchTicks = -1;
    private int _rangesDone;
    private int _filesPlanned;

    public string Id { get; } = id;

    public string Owner { get; } = owner;

    public string Dataset { get; } = dataset;

    public DateTimeOffset Started { get; } = started;

    public int Files { get; set; }

    public long RowGroups { get; set; }

    public DateTimeOffset? Finished { get; private set; }

    public string? Error { get; private set; }

    /// <summary>Ranges planned so far (PollFlightInfo shows them while planning goes on).</summary>
    public List<ScanRange> Planned { get; } = [];

    /// <summary>The finished plan; null while planning.</summary>
    public ScanPlan? Plan { get; set; }

    /// <summary>Planning's failure, where it failed.</summary>
    public Exception? PlanFailure { get; set; }

    public long EventsScanned => Interlocked.Read(ref _eventsScanned);

    /// <summary>Files whose ranges are planned.</summary>
    public int FilesPlanned => Volatile.Read(ref _filesPlanned);

    public void AddPlanned(IReadOnlyList<ScanRange> ranges)
    {
        lock (Planned)
        {
            Planned.AddRange(ranges);
        }

        Interlocked.Increment(ref _filesPlanned);
    }

    /// <summary>Counts a range read to its end (Flight reads a scan's ranges in separate calls); true for the last of <paramref name="ranges"/>.</summary>
    public bool CompleteRange(int ranges) => Interlocked.Increment(ref _rangesDone) is var done && (Plan is { } plan ? done >= plan.Ranges.Count : ranges > 0 && done >= ranges);

    /// <summary>What a wire keeps with the scan (PollFlightInfo's planning).</summary>
    public object? Tag { get; set; }

    public long Batches => Interlocked.Read(ref _batches);

    public void AddPruned(long groups) => Interlocked.Add(ref _rowGroupsPruned, groups);

    public void AddSkipped() => Interlocked.Increment(ref _rowGroupsSkipped);

    public void AddScanned(long events, long bytes)
    {
        Interlocked.Add(ref _eventsScanned, events);
        Interlocked.Add(ref _bytesRead, bytes);
    }

    /// <summary>Counts a batch sent; the first one's time is kept.</summary>
    public void AddBatch(long events)
    {
        Interlocked.Add(ref _eventsPassed, events);
        if (Interlocked.Increment(ref _batches) == 1)
        {
            Interlocked.CompareExchange(ref _firstBatchTicks, Stopwatch.GetTimestamp() - _start, -1);
        }
    }

    public void Finish(DateTimeOffset at, string? error)
    {
        Error ??= error;
        Finished = at;
    }

    public ScanStatus Status() => new(
        Id, Owner, Error is not null ? "failed" : Finished is not null ? "finished" : "running", Dataset, Files, RowGroups,
        Interlocked.Read(ref _rowGroupsPruned), Interlocked.Read(ref _rowGroupsSkipped), EventsScanned, Interlocked.Read(ref _eventsPassed),
        Batches, Interlocked.Read(ref _bytesRead),
        Interlocked.Read(ref _firstBatchTicks) is >= 0 and var ticks ? Stopwatch.GetElapsedTime(0, ticks).TotalMilliseconds : null,
        Started, Finished, Error);
}

/// <summary>
/// The scans of this node, by request id, for their status and for Flight's later calls (DoGet of a planned scan,
/// PollFlightInfo of one still planning). Kept in memory for <see cref="PushdownOptions.StatusKept"/> after they
/// end, and at most some ten thousand: a scan's outcome is also in its logs.
/// </summary>
public sealed class ScanRegistry(IOptions<PushdownOptions> options, TimeProvider clock) : IDisposable
{
    private const int MostKept = 10_000;
    private readonly ConcurrentDictionary<string, ScanState> _scans = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _scansOfRequest = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _running = new(options.Value.MaxConcurrentScans);

    public TimeProvider Clock { get; } = clock;

    /// <summary>Registers a scan, or returns the one already under that id when it is the same owner's (Flight's calls of one scan).</summary>
    /// <exception cref="ScanRequestException">The id is another user's scan.</exception>
    public ScanState Begin(string id, string owner, string dataset)
    {
        Trim();
        var state = _scans.GetOrAdd(id, _ => new ScanState(id, owner, dataset, Clock.GetUtcNow()));
        if (state.Owner != owner)
        {
            throw new ScanRequestException(409, "Request id in use", $"Scan {id} is another user's; send a new X-Shoppe-Request-Id or none.");
        }

        return state;
    }

    /// <summary>
    /// Registers a new scan under <paramref name="requestId"/>, or, where that request already has a scan here (a
    /// delivery's files share their transform's request id), under <c>{request id}.2</c>, <c>.3</c>...: the scan's
    /// own id, for its status; its logs stay under the request id.
    /// </summary>
    public ScanState Start(string requestId, string owner, string dataset)
    {
        Trim();
        while (true)
        {
            var n = _scansOfRequest.AddOrUpdate(requestId, 1, (_, last) => last + 1);
            var id = n == 1 ? requestId : $"{requestId}.{n.ToString(System.Globalization.CultureInfo.InvariantCulture)}";
            if (id.Length > Shoppe.ServiceDefaults.RequestIds.RequestId.MaxLength)
            {
                return Begin(Shoppe.ServiceDefaults.RequestIds.RequestId.NewId(), owner, dataset);
            }

            var state = new ScanState(id, owner, dataset, Clock.GetUtcNow());
            if (_scans.TryAdd(id, state))
            {
                return state;
            }
        }
    }

    public ScanState? Find(string id) => _scans.GetValueOrDefault(id);

    /// <summary>The newest scans still kept, at most <paramref name="limit"/>: <paramref name="owner"/>'s, or everyone's when null.</summary>
    public IReadOnlyList<ScanStatus> Recent(string? owner, int limit) =>
        _scans.Values.Where(s => owner is null || s.Owner == owner)
            .OrderByDescending(s => s.Started).ThenBy(s => s.Id, StringComparer.Ordinal)
            .Take(limit)
            .Select(s => s.Status())
            .ToList();

    /// <summary>A slot for a running scan, or null when <see cref="PushdownOptions.MaxConcurrentScans"/> run already.</summary>
    public IDisposable? TryEnter() => _running.Wait(0) ? new Slot(_running) : null;

    /// <summary>
    /// Forgets finished scans after <see cref="PushdownOptions.StatusKept"/>, and any scan, finished or not, that
    /// began longer ago than <see cref="MostRunning"/> (a Flight scan whose endpoints were never all read does not
    /// finish); past <see cref="MostKept"/> entries, the oldest go first.
    /// </summary>
    private void Trim()
    {
        if (_scans.Count < MostKept / 10)
        {
            return;
        }

        var now = Clock.GetUtcNow();
        var finishedBefore = now - options.Value.StatusKept;
        var startedBefore = now - MostRunning;
        foreach (var (id, scan) in _scans)
        {
            if (scan.Finished is { } finished ? finished < finishedBefore : scan.Started < startedBefore)
            {
                _scans.TryRemove(id, out _);
            }
        }

        if (_scans.Count > MostKept)
        {
            foreach (var (id, _) in _scans.OrderBy(p => p.Value.Started).Take(_scans.Count - MostKept))
            {
                _scans.TryRemove(id, out _);
            }
        }

        if (_scansOfRequest.Count > MostKept)
        {
            _scansOfRequest.Clear(); // only spares a search for a free id; TryAdd keeps ids unique
        }
    }

    /// <summary>How long a scan that never ends (endpoints never all read) is kept.</summary>
    private static readonly TimeSpan MostRunning = TimeSpan.FromHours(6);

    public void Dispose() => _running.Dispose();

    private sealed class Slot(SemaphoreSlim semaphore) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                semaphore.Release();
            }
        }
    }
}
