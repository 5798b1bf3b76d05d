using System.Globalization;
using System.Net;
using Octokit;
using Octokit.Internal;

namespace Shoppe.Release;

/// <summary>One file to attach to the GitHub release.</summary>
/// <param name="Path">The local file.</param>
/// <param name="Name">The asset's name on the release.</param>
/// <param name="Label">The asset's label (the CLI puts the file's SHA-256 there, which is how a re-run knows an asset is unchanged).</param>
/// <param name="ContentType">Its media type.</param>
public sealed record PublishAsset(string Path, string Name, string Label, string ContentType)
{
    /// <summary>The file's size.</summary>
    public long Size => new FileInfo(Path).Length;
}

/// <summary>What a publication did (or, in a dry run, would do).</summary>
public sealed record PublishResult(IReadOnlyList<string> Calls, int Uploaded, int Skipped, int Replaced, Uri? ReleaseUrl);

/// <summary>
/// <c>shoppe release publish</c>: the GitHub release for tag <c>v&lt;version&gt;</c>, through Octokit. It finds the
/// release (creating it with the notes when there is none), then uploads each asset: one already there with the
/// same label (its SHA-256) and size is skipped, a changed one is deleted and uploaded again, and an upload that
/// meets an asset the release did not list (a run that stopped half-way) removes it and uploads again. So a
/// re-run after a failure finishes the job. A dry run makes only the read call and prints the writes.
/// </summary>
public sealed class ReleasePublisher
{
    private readonly Connection _connection;
    private readonly GitHubClient _client;
    private readonly Uri _apiBase;

    /// <summary>A publisher for <paramref name="apiBase"/> (https://api.github.com/ or an Enterprise or replay URL).</summary>
    /// <param name="apiBase">The API's base URL.</param>
    /// <param name="token">A token that may write releases; null for a dry run.</param>
    /// <param name="handler">The HTTP handler under Octokit (tests put header normalisation for the replay there).</param>
    public ReleasePublisher(Uri apiBase, string? token, Func<HttpMessageHandler>? handler = null)
    {
        ArgumentNullException.ThrowIfNull(apiBase);
        _apiBase = apiBase.AbsoluteUri.EndsWith('/') ? apiBase : new Uri(apiBase.AbsoluteUri + "/");
        var credentials = token is null ? Credentials.Anonymous : new Credentials(token);
        var adapter = handler is null ? new HttpClientAdapter(HttpMessageHandlerFactory.CreateDefault) : new HttpClientAdapter(handler);
        _connection = new Connection(new ProductHeaderValue("coffea-shoppe", "1.0"), _apiBase, new InMemoryCredentialStore(credentials), adapter, new SimpleJsonSerializer());
        _client = new GitHubClient(_connection);
    }

    /// <summary>Publishes (or, with <paramref name="dryRun"/>, plans) the release <paramref name="tag"/> of <paramref name="owner"/>/<paramref name="repository"/>.</summary>
    public async Task<PublishResult> PublishAsync(string owner, string repository, string tag, string title, string notes, bool prerelease, string commit,
        IReadOnlyList<PublishAsset> assets, bool dryRun, IProgress<string> progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(assets);
        ArgumentNullException.ThrowIfNull(progress);
        var calls = new List<string>();
        void Call(string line)
        {
            calls.Add(line);
            progress.Report((dryRun && !line.StartsWith("GET ", StringComparison.Ordinal) ? "would: " : "") + line);
        }

        Octokit.Release? release;
        Call($"GET {_apiBase}repos/{owner}/{repository}/releases/tags/{tag}");
        try
        {
            release = await _client.Repository.Release.Get(owner, repository, tag);
        }
        catch (NotFoundException)
        {
            release = null;
        }
        catch (AuthorizationException) when (dryRun)
        {
            release = null;
            progress.Report("(the dry run could not read the release without a token; it plans as if there were none)");
        }
        catch (HttpRequestException ex) when (dryRun)
        {
            release = null;
            progress.Report($"(the dry run could not reach {_apiBase}: {ex.Message}; it plans as if there were no release)");
        }

        if (release is null)
        {
            Call($"POST {_apiBase}repos/{owner}/{repository}/releases {{tag_name: {tag}, name: {title}, target_commitish: {commit}, prerelease: {prerelease.ToString().ToLowerInvariant()}}}");
            if (!dryRun)
            {
                release = await _client.Repository.Release.Create(owner, repository, new NewRelease(tag)
                {
                    Name = title,
                    Body = notes,
                    TargetCommitish = commit,
                    Prerelease = prerelease,
                    Draft = false,
                });
            }
        }

        var uploaded = 0;
        var skipped = 0;
        var replaced = 0;
        foreach (var asset in assets)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var existing = release?.Assets?.FirstOrDefault(a => a.Name == asset.Name);
            if (existing is not null && existing.State == "uploaded" && existing.Label == asset.Label && existing.Size == asset.Size)
            {
                progress.Report($"{asset.Name}: already on the release with the same digest");
                skipped++;
                continue;
            }

            var releaseId = release?.Id.ToString(CultureInfo.InvariantCulture) ?? "{new release}";
            if (existing is not null)
            {
                Call($"DELETE {_apiBase}repos/{owner}/{repository}/releases/assets/{existing.Id} ({asset.Name} changed)");
                if (!dryRun)
                {
                    await _client.Repository.Release.DeleteAsset(owner, repository, existing.Id);
                }

                replaced++;
            }

            var uploadUrl = UploadUrl(release, owner, repository, asset);
            Call($"POST {uploadUrl} ({asset.Size} bytes, {asset.ContentType}) to release {releaseId}");
            if (dryRun)
            {
                uploaded++;
                continue;
            }

            try
            {
                await UploadAsync(uploadUrl, asset, cancellationToken);
            }
            catch (ApiValidationException ex) when (ex.StatusCode == (HttpStatusCode)422)
            {
                // The release has an asset of that name that its listing did not show: a run that stopped half-way.
                Call($"GET {_apiBase}repos/{owner}/{repository}/releases/{release!.Id}/assets ({asset.Name} exists)");
                var stale = (await _client.Repository.Release.GetAllAssets(owner, repository, release.Id)).FirstOrDefault(a => a.Name == asset.Name)
                            ?? throw new ReleaseException($"GitHub refused {asset.Name} ({ex.Message}) but lists no asset of that name.");
                Call($"DELETE {_apiBase}repos/{owner}/{repository}/releases/assets/{stale.Id}");
                await _client.Repository.Release.DeleteAsset(owner, repository, stale.Id);
                Call($"POST {uploadUrl} ({asset.Size} bytes, {asset.ContentType}) again");
                await UploadAsync(uploadUrl, asset, cancellationToken);
                replaced++;
            }

            uploaded++;
            progress.Report($"{asset.Name}: uploaded");
        }

        return new PublishResult(calls, uploaded, skipped, replaced, release?.HtmlUrl is { } html ? new Uri(html) : null);
    }

    private async Task UploadAsync(Uri uploadUrl, PublishAsset asset, CancellationToken cancellationToken)
    {
        await using var content = File.OpenRead(asset.Path);
        var response = await _connection.Post<ReleaseAsset>(uploadUrl, content, "application/vnd.github.v3+json", asset.ContentType, TimeSpan.FromMinutes(30), cancellationToken);
        if (response.Body is null || response.Body.Size != asset.Size)
        {
            throw new ReleaseException($"GitHub took {asset.Name} but reports {response.Body?.Size} bytes of {asset.Size}.");
        }
    }

    /// <summary>The release's upload URL (a template, <c>…/assets{?name,label}</c>) with the asset's name and label.</summary>
    private static Uri UploadUrl(Octokit.Release? release, string owner, string repository, PublishAsset asset)
    {
        var template = release?.UploadUrl ?? $"https://uploads.github.com/repos/{owner}/{repository}/releases/0/assets{{?name,label}}";
        var brace = template.IndexOf('{', StringComparison.Ordinal);
        var baseUrl = brace < 0 ? template : template[..brace];
        return new Uri($"{baseUrl}?name={Uri.EscapeDataString(asset.Name)}&label={Uri.EscapeDataString(asset.Label)}");
    }
}
