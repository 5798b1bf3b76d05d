using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;

namespace Shoppe.Testing;

/// <summary>
/// Recorded real GitHub API exchanges (@octokit/fixtures), replayed on 127.0.0.1 by github-replay/server.mjs
/// (installed by eng/install-test-deps.sh). Each scenario is a fresh replay that answers its requests in order.
/// </summary>
public sealed class GitHubReplay : IAsyncLifetime
{
    private Process? _server;

    public Uri Url { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        var folder = Path.Combine(Repository.Root, "services", "Common", "Shoppe.Testing", "Peers", "github-replay");
        if (!Directory.Exists(Path.Combine(folder, "node_modules", "@octokit", "fixtures-server")))
        {
            throw new InvalidOperationException($"The GitHub replay is not installed in {folder}: run eng/install-test-deps.sh.");
        }

        var port = Loopback.FreePort();
        _server = Process.Start(new ProcessStartInfo("node", ["server.mjs", port.ToString(System.Globalization.CultureInfo.InvariantCulture)])
        {
            WorkingDirectory = folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        Url = new Uri($"http://127.0.0.1:{port}/");
        using var probe = new HttpClient();
        for (var i = 0; ; i++)
        {
            try
            {
                using var _ = await probe.GetAsync(Url); // any answer: it listens
                return;
            }
            catch (HttpRequestException) when (i < 150 && !_server.HasExited)
            {
                await Task.Delay(200);
            }
        }
    }

    /// <summary>Loads <paramref name="scenario"/> and returns the base URL of its replay (its api.github.com).</summary>
    public async Task<Uri> ScenarioAsync(string scenario)
    {
        using var http = new HttpClient();
        using var response = await http.PostAsJsonAsync(new Uri(Url, "fixtures"), new { scenario });
        response.EnsureSuccessStatusCode();
        var url = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("url").GetString()!;
        return new Uri(url.TrimEnd('/') + "/");
    }

    public ValueTask DisposeAsync()
    {
        if (_server is { HasExited: false })
        {
            _server.Kill(entireProcessTree: true);
        }

        _server?.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>
/// The recordings compare some headers literally as GitHub's own clients sent them; Octokit .NET sends equivalents
/// GitHub accepts (<c>Token</c> for <c>token</c>, media types with parameters). This puts them in the recorded form.
/// </summary>
public sealed class RecordedHeaders : DelegatingHandler
{
    public RecordedHeaders()
        : base(new HttpClientHandler())
    {
    }

    public List<string> Requests { get; } = [];

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (request.Headers.Authorization is { } auth)
        {
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue(auth.Scheme.ToLowerInvariant(), auth.Parameter);
        }

        request.Headers.Accept.Clear();
        request.Headers.Accept.ParseAdd("application/vnd.github.v3+json");
        if (request.Method == HttpMethod.Patch && request.Content?.Headers.ContentType is { } type)
        {
            type.CharSet = "utf-8";
        }

        lock (Requests)
        {
            Requests.Add($"{request.Method} {request.RequestUri!.AbsolutePath}{request.RequestUri.Query}");
        }

        return base.SendAsync(request, cancellationToken);
    }
}
