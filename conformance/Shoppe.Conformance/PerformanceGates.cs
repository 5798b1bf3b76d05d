using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Runtime.Versioning;

namespace Shoppe.Conformance;

/// <summary>
/// Runs the gates of a <see cref="GateSet"/> against a facility: each measurement once, each gate as the
/// measured figure over the named limit of this machine, "not applicable" where the hardware or the target
/// cannot give the measurement.
/// </summary>
public sealed class PerformanceGates(FacilityEnvironment facility, GateSet gates, HardwareProfile profile, HardwareLimits limits, IProgress<string> progress) : IDisposable
{
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromMinutes(10) };
    private readonly Dictionary<string, Task<double>> _measured = new(StringComparer.Ordinal);
    private readonly string _runId = Guid.CreateVersion7().ToString("N")[..12];
    private readonly List<string> _probeFiles = [];

    /// <summary>How many times each figure is measured; the best counts, as for the limits.</summary>
    private const int Rounds = 2;

    /// <summary>
    /// A gate's verdict on a measured figure: its ratio to the gate's limit on this machine against the gate's least
    /// ratio. Kept apart from measuring so that the verdict itself is tested on figures chosen to pass and to fail.
    /// </summary>
    internal static CheckResult Judge(Gate gate, double measuredMiBs, HardwareLimits limits, double seconds)
    {
        var limit = limits.Named(gate.Limit);
        var ratio = measuredMiBs / limit;
        var outcome = ratio >= gate.MinRatio ? Outcome.Passed : Outcome.Failed;
        var message = string.Create(CultureInfo.InvariantCulture,
            $"{measuredMiBs:F0} MiB/s = {ratio:F2} x {gate.Limit} ({limit:F0} MiB/s); needs >= {gate.MinRatio:F2}");
        return new CheckResult("gates", gate.Id, outcome, message, seconds, measuredMiBs, limit, ratio, gate.MinRatio);
    }

    /// <summary>Runs every gate.</summary>
    [UnsupportedOSPlatform("windows")]
    public async Task<IReadOnlyList<CheckResult>> RunAsync(CancellationToken cancellationToken)
    {
        var results = new List<CheckResult>();
        try
        {
            foreach (var gate in gates.Gates)
            {
                var clock = Stopwatch.StartNew();
                CheckResult result;
                if (gate.MissingHardware(profile) is { } missing)
                {
                    result = new CheckResult("gates", gate.Id, Outcome.NotApplicable, missing, 0, Threshold: gate.MinRatio);
                }
                else
                {
                    try
                    {
                        var value = await MeasureAsync(gate.Measure, cancellationToken);
                        result = Judge(gate, value, limits, clock.Elapsed.TotalSeconds);
                    }
                    catch (NotApplicableException ex)
                    {
                        result = new CheckResult("gates", gate.Id, Outcome.NotApplicable, ex.Message, clock.Elapsed.TotalSeconds, Threshold: gate.MinRatio);
                    }
                    catch (Exception ex) when (ex is HttpRequestException or IOException or CheckFailedException or TimeoutException
                                                   or TaskCanceledException { InnerException: TimeoutException })
                    {
                        result = new CheckResult("gates", gate.Id, Outcome.Failed, ex.Message, clock.Elapsed.TotalSeconds, Threshold: gate.MinRatio);
                    }
                }

                results.Add(result);
                progress.Report($"{ConformanceSuite.Symbol(result.Outcome)} gates: {gate.Id} — {result.Message}");
            }
        }
        finally
        {
            foreach (var probe in _probeFiles)
            {
                File.Delete(probe);
            }
        }

        return results;
    }

    [UnsupportedOSPlatform("windows")]
    private Task<double> MeasureAsync(string measure, CancellationToken cancellationToken)
    {
        if (!_measured.TryGetValue(measure, out var task))
        {
            task = measure switch
            {
                "cache-cold-read" or "cache-warm-read" => CacheReadsAsync(measure, cancellationToken),
                "transfer-pull" => TransferPullAsync(cancellationToken),
                _ => throw new NotApplicableException($"this suite cannot measure '{measure}'"),
            };
            _measured[measure] = task;
        }

        return task;
    }

    private long SampleBytes => (long)gates.SampleMiB << 20;

    /// <summary>
    /// Cold reads through the cache of files just written to the origin and dropped from the page cache, then warm
    /// reads of the same files (served from the cache's blocks); the best of <see cref="Rounds"/> of each. Against a
    /// deployment, warm reads of the probe file it named (a cold read cannot be known to be cold there).
    /// </summary>
    [UnsupportedOSPlatform("windows")]
    private async Task<double> CacheReadsAsync(string measure, CancellationToken cancellationToken)
    {
        _cacheReads ??= MeasureCacheReadsAsync(cancellationToken);
        var (cold, warm) = await _cacheReads;
        return measure != "cache-cold-read" ? warm
            : cold ?? throw new NotApplicableException("a cold read needs a file the suite put in the origin itself; a deployment's probe file may be cached already");
    }

    private Task<(double? Cold, double Warm)>? _cacheReads;

    [UnsupportedOSPlatform("windows")]
    private async Task<(double? Cold, double Warm)> MeasureCacheReadsAsync(CancellationToken cancellationToken)
    {
        double? cold = null;
        double warm = 0;
        if (facility.OriginFolder is { } origin)
        {
            var folder = Directory.CreateDirectory(Path.Combine(origin, "gates")).FullName;
            for (var round = 0; round < Rounds; round++)
            {
                var probe = Path.Combine(folder, $"probe-{_runId}-{round}.bin");
                _probeFiles.Add(probe);
                await WriteRandomFileAsync(probe, SampleBytes, cancellationToken);
                var path = "/gates/" + Path.GetFileName(probe);
                cold = Math.Max(cold ?? 0, await ReadThroughCacheAsync(path, cancellationToken));
                warm = Math.Max(warm, await ReadThroughCacheAsync(path, cancellationToken));
            }

            return (cold, warm);
        }

        var named = facility.CacheProbePath ?? throw new NotApplicableException("the deployment named no large file under its cache (--cache-probe-path)");
        await ReadThroughCacheAsync(named, cancellationToken); // make sure it is cached
        for (var round = 0; round < Rounds; round++)
        {
            warm = Math.Max(warm, await ReadThroughCacheAsync(named, cancellationToken));
        }

        return (null, warm);
    }

    private async Task<double> ReadThroughCacheAsync(string path, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(facility.Services["cache"], path.TrimStart('/')));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", facility.Token("conformance"));
        var clock = Stopwatch.StartNew();
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        ConformanceSuite.Require(response.StatusCode == HttpStatusCode.OK, $"GET {path} through the cache answered {(int)response.StatusCode}");
        var total = await DrainAsync(await response.Content.ReadAsStreamAsync(cancellationToken), cancellationToken);
        return HardwareLimits.MiBs(total, clock.Elapsed);
    }

    /// <summary>A file PUT to the transfer service, then pulled by a COPY from its own URL: the COPY's rate.</summary>
    private async Task<double> TransferPullAsync(CancellationToken cancellationToken)
    {
        if (!facility.MintsTokens)
        {
            // A site's one token may not carry storage scopes for a scratch folder; the suite asks for none.
            throw new NotApplicableException("the deployment's token cannot be given storage scopes for a scratch folder");
        }

        var folder = $"/conformance/gates-{_runId}";
        var token = facility.Token("conformance", "storage.read:/conformance storage.create:/conformance storage.modify:/conformance");
        var transfer = facility.Services["transfer"];
        try
        {
            using (var put = new HttpRequestMessage(HttpMethod.Put, new Uri(transfer, folder.TrimStart('/') + "/source.bin")))
            {
                put.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
                put.Content = new StreamContent(new RandomStream(SampleBytes));
                put.Content.Headers.ContentLength = SampleBytes;
                using var created = await _http.SendAsync(put, cancellationToken);
                ConformanceSuite.Require(created.StatusCode == HttpStatusCode.Created, $"PUT of the sample answered {(int)created.StatusCode}");
            }

            double best = 0;
            for (var round = 0; round < Rounds; round++)
            {
                using var copy = new HttpRequestMessage(new HttpMethod("COPY"), new Uri(transfer, folder.TrimStart('/') + $"/copy-{round}.bin"));
                copy.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
                copy.Headers.Add("Source", new Uri(transfer, folder.TrimStart('/') + "/source.bin").ToString());
                copy.Headers.Add("TransferHeaderAuthorization", "Bearer " + token);
                var clock = Stopwatch.StartNew();
                using var markers = await _http.SendAsync(copy, cancellationToken);
                var text = await markers.Content.ReadAsStringAsync(cancellationToken);
                var elapsed = clock.Elapsed;
                ConformanceSuite.Require(markers.StatusCode == HttpStatusCode.Accepted && text.TrimEnd().EndsWith("success: Created", StringComparison.Ordinal),
                    $"the COPY did not succeed: {(int)markers.StatusCode} {text.TrimEnd().Split('\n')[^1]}");
                best = Math.Max(best, HardwareLimits.MiBs(SampleBytes, elapsed));
            }

            return best;
        }
        finally
        {
            foreach (var name in new[] { "/source.bin", "/copy-0.bin", "/copy-1.bin", "" })
            {
                using var delete = new HttpRequestMessage(HttpMethod.Delete, new Uri(transfer, (folder + name).TrimStart('/')));
                delete.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
                using var _ = await _http.SendAsync(delete, CancellationToken.None);
            }
        }
    }

    [UnsupportedOSPlatform("windows")]
    private static async Task WriteRandomFileAsync(string path, long bytes, CancellationToken cancellationToken)
    {
        await using (var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.Read, 0, FileOptions.Asynchronous))
        {
            await new RandomStream(bytes).CopyToAsync(file, 1 << 20, cancellationToken);
            file.Flush(flushToDisk: true);
        }

        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
        HardwareLimits.DropFromPageCache(handle);
    }

    private static async Task<long> DrainAsync(Stream stream, CancellationToken cancellationToken)
    {
        await using (stream)
        {
            var buffer = new byte[1 << 20];
            long total = 0;
            int n;
            while ((n = await stream.ReadAsync(buffer, cancellationToken)) > 0)
            {
                total += n;
            }

            return total;
        }
    }

    /// <inheritdoc/>
    public void Dispose() => _http.Dispose();

    /// <summary>A read-only stream of <c>length</c> incompressible bytes (one random MiB, repeated with a varying first word).</summary>
    private sealed class RandomStream(long length) : Stream
    {
        private readonly byte[] _block = CreateBlock();
        private long _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => length;

        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var n = (int)Math.Min(buffer.Length, length - _position);
            var done = 0;
            while (done < n)
            {
                var at = (int)((_position + done) % _block.Length);
                var take = Math.Min(n - done, _block.Length - at);
                _block.AsSpan(at, take).CopyTo(buffer[done..]);
                done += take;
            }

            _position += n;
            return n;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => ValueTask.FromResult(Read(buffer.Span));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => Task.FromResult(Read(buffer, offset, count));

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        private static byte[] CreateBlock()
        {
            var bytes = new byte[(1 << 20) + 4093]; // not a power of two: blocks do not repeat on block boundaries
            Random.Shared.NextBytes(bytes);
            return bytes;
        }
    }
}
