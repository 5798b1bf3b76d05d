namespace Shoppe.Release.Tests;

/// <summary>Publication through Octokit against recorded real GitHub exchanges.</summary>
public sealed class PublishTests(GitHubReplay replay) : IClassFixture<GitHubReplay>
{
    private const string Owner = "octokit-fixture-org";
    private const string Token = "0000000000000000000000000000000000000001";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>The recordings' asset: "Hello, world!\n" as test-upload.txt, labelled "test".</summary>
    private static PublishAsset RecordedAsset(string folder)
    {
        var path = Path.Combine(folder, "test-upload.txt");
        File.WriteAllText(path, "Hello, world!\n");
        return new PublishAsset(path, "test-upload.txt", "test", "text/plain");
    }

    private static List<string> Lines() => [];

    [Fact]
    public async Task Publish_ToAnExistingRelease_UploadsTheAsset()
    {
        var folder = Directory.CreateTempSubdirectory("shoppe-publish-").FullName;
        var headers = new RecordedHeaders();
        var api = await replay.ScenarioAsync("release-assets");
        var publisher = new ReleasePublisher(api, Token, () => headers);
        var lines = Lines();
        var result = await publisher.PublishAsync(Owner, "release-assets", "v1.0.0", "Coffea Shoppe 1.0.0", "notes", false, "main",
            [RecordedAsset(folder)], dryRun: false, new SyncProgress(lines), Ct);

        Assert.Equal(1, result.Uploaded);
        Assert.Equal(0, result.Replaced);
        Assert.Equal(
            ["GET /api.github.com/" + IdOf(api) + "/repos/octokit-fixture-org/release-assets/releases/tags/v1.0.0",
             "POST /uploads.github.com/" + IdOf(api) + "/repos/octokit-fixture-org/release-assets/releases/1000/assets?name=test-upload.txt&label=test"],
            headers.Requests);
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public async Task Publish_AfterARunThatStoppedHalfWay_ReplacesTheStrayAssetAndFinishes()
    {
        var folder = Directory.CreateTempSubdirectory("shoppe-publish-").FullName;
        var headers = new RecordedHeaders();
        var api = await replay.ScenarioAsync("release-assets-conflict");
        var publisher = new ReleasePublisher(api, Token, () => headers);
        var result = await publisher.PublishAsync(Owner, "release-assets-conflict", "v1.0.0", "Coffea Shoppe 1.0.0", "notes", false, "main",
            [RecordedAsset(folder)], dryRun: false, new SyncProgress(Lines()), Ct);

        Assert.Equal(1, result.Uploaded);
        Assert.Equal(1, result.Replaced);
        Assert.Equal(["GET", "POST", "GET", "DELETE", "POST"], headers.Requests.Select(r => r.Split(' ')[0]));
        Assert.EndsWith("/releases/assets/1000", headers.Requests[3], StringComparison.Ordinal);
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public async Task DryRun_ReadsTheReleaseOnly_AndPrintsTheCallsItWouldMake()
    {
        var folder = Directory.CreateTempSubdirectory("shoppe-publish-").FullName;
        var headers = new RecordedHeaders();
        var api = await replay.ScenarioAsync("release-assets");
        var lines = Lines();
        var dry = await new ReleasePublisher(api, Token, () => headers).PublishAsync(Owner, "release-assets", "v1.0.0", "Coffea Shoppe 1.0.0", "notes", false, "main",
            [RecordedAsset(folder)], dryRun: true, new SyncProgress(lines), Ct);

        Assert.Single(headers.Requests); // the GET of the release, nothing else
        Assert.Equal(2, dry.Calls.Count);
        Assert.StartsWith("GET ", dry.Calls[0], StringComparison.Ordinal);
        Assert.StartsWith("POST " + api.GetLeftPart(UriPartial.Authority) + "/uploads.github.com/", dry.Calls[1], StringComparison.Ordinal);
        Assert.Contains("?name=test-upload.txt&label=test (14 bytes, text/plain)", dry.Calls[1], StringComparison.Ordinal);
        Assert.Contains(lines, l => l.StartsWith("would: POST ", StringComparison.Ordinal));

        // Nothing was written: the replay's next exchange is still the upload, exactly as the dry run printed it.
        var printed = dry.Calls[1][5..dry.Calls[1].IndexOf(' ', 5)];
        using var http = new HttpClient(new RecordedHeaders());
        using var upload = new HttpRequestMessage(HttpMethod.Post, printed) { Content = new StringContent("Hello, world!\n") };
        upload.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("text/plain");
        upload.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("token", Token);
        using var uploaded = await http.SendAsync(upload, Ct);
        Assert.Equal(System.Net.HttpStatusCode.Created, uploaded.StatusCode);
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public async Task Publish_WhenTheReplayRefusesAnUnrecordedCall_Fails()
    {
        // A release that does not exist is created: no recording has that exchange, so the replay refuses it, and
        // the publisher reports the failure instead of claiming success.
        var folder = Directory.CreateTempSubdirectory("shoppe-publish-").FullName;
        var api = await replay.ScenarioAsync("release-assets");
        var publisher = new ReleasePublisher(api, Token, () => new RecordedHeaders());
        await Assert.ThrowsAnyAsync<Octokit.ApiException>(() => publisher.PublishAsync(Owner, "release-assets", "v9.9.9", "x", "notes", false, "main",
            [RecordedAsset(folder)], dryRun: false, new SyncProgress(Lines()), Ct));
        Directory.Delete(folder, recursive: true);
    }

    private static string IdOf(Uri api) => api.AbsolutePath.Trim('/').Split('/')[^1];
}

/// <summary>Collects progress lines in order.</summary>
public sealed class SyncProgress(List<string> lines) : IProgress<string>
{
    public void Report(string value)
    {
        lock (lines)
        {
            lines.Add(value);
        }
    }
}
