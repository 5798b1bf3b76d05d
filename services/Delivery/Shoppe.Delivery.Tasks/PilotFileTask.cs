using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Shoppe.Columnar;
using Shoppe.Security.Remotes;
using Shoppe.ServiceDefaults.RequestIds;
using Shoppe.Workflow.Pilots;

namespace Shoppe.Delivery.Tasks;

/// <summary>
/// The <c>delivery.file</c> task, as a pilot runs it: <see cref="FileTask"/> with an output uploaded to the
/// delivery service (which checks the lease, writes it under a private name and renames it into the request's
/// output folder), so a pilot needs no shared file system for outputs. Inputs on the cache are read from the
/// pilot's own cache where it has one (<c>--cache</c>), else from the one the service names.
/// </summary>
public sealed class PilotFileTask : IPilotTask, IDisposable
{
    /// <summary>The task kind (<see cref="PilotTask.Kind"/>).</summary>
    public const string Kind = "delivery.file";

    private readonly HttpClient _facility = Client(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(10) });
    private readonly ConcurrentDictionary<string, HttpClient> _users = new(StringComparer.Ordinal);
    private readonly FileOpener _opener;

    /// <summary>A task runner reading the cache's files from <paramref name="nearestCache"/> where given.</summary>
    /// <param name="nearestCache">A cache near this pilot, or null.</param>
    public PilotFileTask(Uri? nearestCache = null) => _opener = new FileOpener(_facility, UsersClient, nearestCache);

    /// <inheritdoc/>
    public async Task<JobResult> RunAsync(PilotJob job, PilotTaskContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(context);
        var spec = job.Task?.Spec.Deserialize(FileTaskJsonContext.Default.FileTaskSpec)
            ?? throw new InvalidOperationException($"job {job.Id} has no delivery.file spec");
        using var requestId = RequestId.BeginScope(spec.RequestId);
        var output = new UploadedOutput(context, spec);
        // The cache is read with the pilot's own token: the service never hands its own to a pilot.
        var access = spec.Access.CachePath is not null ? spec.Access with { CacheToken = context.Token }
            : spec.Access.Pushdown is not null ? spec.Access with { PushdownToken = context.Token }
            : spec.Access;
        var outcome = await FileTask.RunAsync(spec with { Access = access }, _opener, output, cancellationToken);
        var seconds = outcome.Result?.Elapsed.TotalSeconds ?? 0;
        if (outcome.LeaseLost)
        {
            return new JobResult(job.Id, job.Attempt, false, null, "the lease passed to another worker before the output was taken", null, seconds);
        }

        if (outcome.Error is { } error)
        {
            return new JobResult(job.Id, job.Attempt, false, null, error, outcome.Retry ? new Dictionary<string, string> { ["retry"] = "true" } : null, seconds);
        }

        return new JobResult(job.Id, job.Attempt, true, 0, null, null, seconds);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _facility.Dispose();
        foreach (var client in _users.Values)
        {
            client.Dispose();
        }
    }

    private static HttpClient Client(SocketsHttpHandler handler)
    {
        handler.PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1);
        return new(new RequestIdPropagationHandler { InnerHandler = handler }) { Timeout = TimeSpan.FromMinutes(5) };
    }

    /// <summary>A client for users' URLs under the service's policy (one per distinct policy).</summary>
    private HttpClient UsersClient(InputAccess access)
    {
        var rules = access.AllowedRemotes ?? [];
        var key = (access.PublicOnly ? "public|" : "any|") + string.Join('\n', rules);
        return _users.GetOrAdd(key, _ =>
        {
            var policy = new RemotePolicy(rules, access.PublicOnly ? RemoteDefaults.PublicOnly : RemoteDefaults.AnyButLinkLocal, "Delivery:AllowedRemotes", out List<string> _);
            return Client(policy.Handler(TimeSpan.FromSeconds(10)));
        });
    }

    /// <summary>The output in the pilot's work folder, then uploaded; an earlier output is reused by asking the service.</summary>
    private sealed class UploadedOutput(PilotTaskContext context, FileTaskSpec spec) : IFileOutput
    {
        private readonly string _lease = $"pilot={Uri.EscapeDataString(context.PilotId)}&attempt={spec.Attempt.ToString(CultureInfo.InvariantCulture)}";

        public string WorkPath { get; } = Path.Combine(context.WorkDirectory, $"{spec.RequestId.Replace(':', '_')}.{spec.Index}.{spec.Attempt}.{Guid.NewGuid().ToString("N")[..8]}.{spec.Format}");

        private string FileUrl => $"v1/pilots/files/{Uri.EscapeDataString(spec.RequestId)}/{spec.Index.ToString(CultureInfo.InvariantCulture)}";

        public async Task<TransformResult?> TryReuseAsync(string identity, CancellationToken cancellationToken)
        {
            using var response = await context.Service.PostAsync($"{FileUrl}/reuse?{_lease}&identity={Uri.EscapeDataString(identity)}", null, cancellationToken);
            if (response.StatusCode == HttpStatusCode.NotFound)
            {
                return null;
            }

            if (response.StatusCode == HttpStatusCode.Conflict)
            {
                throw new LeaseLostException(spec.JobId);
            }

            response.EnsureSuccessStatusCode();
            var reused = await response.Content.ReadFromJsonAsync(FileTaskJsonContext.Default.FileReused, cancellationToken)
                ?? throw new HttpRequestException("the service's reuse answer was empty");
            return new TransformResult(reused.EventsIn, reused.EventsOut, 0, reused.BytesOut, TimeSpan.Zero);
        }

        public async Task<bool> CommitAsync(TransformResult result, string? identity, CancellationToken cancellationToken)
        {
            ArgumentNullException.ThrowIfNull(result);
            var commit = new FileCommit(result.EventsIn, result.EventsOut, result.BytesIn, result.Elapsed.TotalSeconds, identity);
            await using var file = new FileStream(WorkPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
            using var content = new StreamContent(file, 1 << 16);
            content.Headers.ContentLength = file.Length;
            content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/octet-stream");
            using var request = new HttpRequestMessage(HttpMethod.Put, $"{FileUrl}?{_lease}") { Content = content };
            request.Headers.Add(CommitHeader, JsonSerializer.Serialize(commit, FileTaskJsonContext.Default.FileCommit));
            using var response = await context.Service.SendAsync(request, cancellationToken);
            if (response.StatusCode == HttpStatusCode.Conflict)
            {
                return false;
            }

            if (!response.IsSuccessStatusCode)
            {
                throw new HttpRequestException($"the delivery service did not take the output ({(int)response.StatusCode}): {await response.Content.ReadAsStringAsync(cancellationToken)}", null, response.StatusCode);
            }

            return true;
        }
    }

    /// <summary>The header that carries a pilot's <see cref="FileCommit"/> with its output.</summary>
    public const string CommitHeader = "X-Shoppe-File-Commit";
}

/// <summary>The lease of a file passed to another worker (or the transform was cancelled): stop, record nothing.</summary>
/// <param name="jobId">The file's job id.</param>
public sealed class LeaseLostException(string jobId) : Exception($"the lease of {jobId} is no longer held");
