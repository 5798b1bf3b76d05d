using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Shoppe.Workflow.Slurm;

/// <summary>slurmrestd's controller ping: the controller's host and whether it is up.</summary>
/// <param name="Hostname">The controller's host name.</param>
/// <param name="IsUp">Whether it answered.</param>
/// <param name="Mode">primary or backup.</param>
public sealed record SlurmPing(string Hostname, bool IsUp, string? Mode);

/// <summary>
/// A typed client of slurmrestd's openapi/v0.0.38 (Slurm 22.05): submit batch jobs, read and list them, cancel them.
/// Every request carries X-SLURM-USER-NAME and a JWT from the token provider (auth/jwt), asked for each request so
/// that the provider may refresh it (see <see cref="SlurmTokens.Refreshing"/>). slurmrestd's errors become
/// <see cref="SlurmException"/>s.
/// </summary>
public sealed class SlurmRestClient
{
    /// <summary>The API version this client speaks: the openapi plugin slurmrestd must load (<c>-s openapi/v0.0.38</c>).</summary>
    public const string ApiVersion = "v0.0.38";

    private static readonly MediaTypeHeaderValue Json = new("application/json");

    private readonly HttpClient _http;
    private readonly Uri _api;
    private readonly string _userName;
    private readonly Func<CancellationToken, ValueTask<string>> _tokens;

    /// <summary>A client over <paramref name="http"/> (not disposed here).</summary>
    /// <param name="http">The HTTP client to send with.</param>
    /// <param name="restUrl">slurmrestd's address, e.g. <c>http://127.0.0.1:6820</c>.</param>
    /// <param name="userName">The user the tokens are for; jobs run as this user.</param>
    /// <param name="tokenProvider">A token for <paramref name="userName"/>, asked for before each request.</param>
    public SlurmRestClient(HttpClient http, Uri restUrl, string userName, Func<CancellationToken, ValueTask<string>> tokenProvider)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(restUrl);
        ArgumentException.ThrowIfNullOrEmpty(userName);
        ArgumentNullException.ThrowIfNull(tokenProvider);
        _http = http;
        _api = new Uri(restUrl, $"/slurm/{ApiVersion}/");
        _userName = userName;
        _tokens = tokenProvider;
    }

    /// <summary>Asks slurmrestd to ping the (primary) controller.</summary>
    public async Task<SlurmPing> PingAsync(CancellationToken cancellationToken = default)
    {
        var answer = await SendAsync(HttpMethod.Get, "ping", null, SlurmJsonContext.Default.SlurmPingsResponse, cancellationToken);
        var ping = answer.Pings?.FirstOrDefault() ?? throw new SlurmException("slurmrestd ping: no controller in the answer.");
        return new SlurmPing(ping.Hostname ?? "", ping.Ping == "UP", ping.Mode);
    }

    /// <summary>Submits a batch job and returns its id.</summary>
    /// <exception cref="SlurmException">
    /// Slurm refused it, e.g. error 2014 ("Requested node configuration is not available") when no node of the partition
    /// has what it asks for, such as GPUs.
    /// </exception>
    public async Task<long> SubmitAsync(SlurmJobRequest job, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(job);
        var body = JsonSerializer.SerializeToUtf8Bytes(job.ToWire(), SlurmJsonContext.Default.SlurmJobSubmission);
        var answer = await SendAsync(HttpMethod.Post, "job/submit", body, SlurmJsonContext.Default.SlurmSubmitResponse, cancellationToken);
        return answer.JobId ?? throw new SlurmException("slurmrestd job/submit: no job_id in the answer.");
    }

    /// <summary>Reads one job.</summary>
    /// <exception cref="SlurmException">Slurm does not know it (error 2017), or failed.</exception>
    public async Task<SlurmJob> GetJobAsync(long jobId, CancellationToken cancellationToken = default)
    {
        var answer = await SendAsync(HttpMethod.Get, $"job/{jobId.ToString(CultureInfo.InvariantCulture)}", null, SlurmJsonContext.Default.SlurmJobsResponse, cancellationToken);
        var job = answer.Jobs?.FirstOrDefault(j => j.JobId == jobId) ?? throw new SlurmException($"slurmrestd job/{jobId}: the job is not in the answer.");
        return SlurmJob.FromWire(job);
    }

    /// <summary>Cancels a job (SIGTERM, then SIGKILL after the cluster's KillWait); cancelling an ended job does nothing.</summary>
    /// <exception cref="SlurmException">Slurm does not know it (error 2017), or failed.</exception>
    public async Task CancelAsync(long jobId, CancellationToken cancellationToken = default) =>
        await SendAsync(HttpMethod.Delete, $"job/{jobId.ToString(CultureInfo.InvariantCulture)}", null, SlurmJsonContext.Default.SlurmCancelResponse, cancellationToken);

    /// <summary>Every job slurmctld knows: pending, running, and ended within the cluster's MinJobAge.</summary>
    public async Task<IReadOnlyList<SlurmJob>> ListJobsAsync(CancellationToken cancellationToken = default)
    {
        var answer = await SendAsync(HttpMethod.Get, "jobs", null, SlurmJsonContext.Default.SlurmJobsResponse, cancellationToken);
        return answer.Jobs?.Select(SlurmJob.FromWire).ToList() ?? [];
    }

    private async Task<T> SendAsync<T>(HttpMethod method, string path, byte[]? body, JsonTypeInfo<T> answerType, CancellationToken cancellationToken)
        where T : SlurmResponse
    {
        var operation = $"{method} {path}";
        using var request = new HttpRequestMessage(method, new Uri(_api, path));
        request.Headers.Add("X-SLURM-USER-NAME", _userName);
        request.Headers.Add("X-SLURM-USER-TOKEN", await _tokens(cancellationToken));
        if (body is not null)
        {
            // Bytes with a length and a bare content type: slurmrestd 22.05 answers a chunked body with 406, and
            // "application/json; charset=utf-8" (JsonContent's) with 400 "Unable to parse query".
            request.Content = new ByteArrayContent(body);
            request.Content.Headers.ContentType = Json;
        }

        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        }
        catch (HttpRequestException ex)
        {
            throw new SlurmException($"slurmrestd {operation}: {ex.Message}", ex);
        }

        using (response)
        {
            if (response.Content.Headers.ContentType?.MediaType != Json.MediaType)
            {
                // slurmrestd's own refusals (401 without user name or token, 404) are a line of plain text.
                var text = await response.Content.ReadAsStringAsync(cancellationToken);
                throw new SlurmException($"slurmrestd {operation}: {(int)response.StatusCode} {text.Trim()}", response.StatusCode, -1, null);
            }

            T? answer;
            try
            {
                await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
                answer = await JsonSerializer.DeserializeAsync(stream, answerType, cancellationToken);
            }
            catch (JsonException ex)
            {
                throw new SlurmException($"slurmrestd {operation}: an answer that is not v0.0.38's ({ex.Message})", ex);
            }

            if (answer?.Errors is { Count: > 0 } errors)
            {
                throw SlurmException.From(response.StatusCode, operation, errors);
            }

            if (!response.IsSuccessStatusCode || answer is null)
            {
                throw new SlurmException($"slurmrestd {operation}: {(int)response.StatusCode} with no error named", response.StatusCode, -1, null);
            }

            return answer;
        }
    }
}
