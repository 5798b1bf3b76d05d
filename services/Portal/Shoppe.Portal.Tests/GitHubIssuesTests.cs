using Microsoft.Extensions.Options;
using Shoppe.Portal.Help;
using Shoppe.Testing;

namespace Shoppe.Portal.Tests;

/// <summary>Filing a report as a GitHub issue through Octokit, against GitHub's recorded answers (github-replay).</summary>
public sealed class GitHubIssuesTests(GitHubReplay replay) : IClassFixture<GitHubReplay>, IDisposable
{
    /// <summary>The token the recordings were made with.</summary>
    public const string RecordedToken = "0000000000000000000000000000000000000001";

    private readonly string _folder = Directory.CreateTempSubdirectory("shoppe-github-").FullName;

    private static readonly ProblemReport Report = new(7, new DateTimeOffset(2026, 12, 4, 12, 0, 0, TimeSpan.Zero), "alice", "delivery", "req-1",
        "It stopped at file 3.", "delivery req-1: failed\nlast 1 lines:\n2026-12-04T12:00:00Z error delivery: file 3 unreadable\n", null, null);

    private GitHubIssues Issues(Uri api, string token)
    {
        var file = Path.Combine(_folder, "token");
        File.WriteAllText(file, token);
        return new GitHubIssues(Options.Create(new HelpOptions
        {
            GitHub = new GitHubFilingOptions { Repository = "octokit-fixture-org/add-labels-to-issue", TokenFile = file, ApiUrl = api, Labels = ["facility-report"] },
        }));
    }

    [Fact]
    public async Task File_OpensTheIssueThenLabelsIt_AndGivesItsAddress()
    {
        var issues = Issues(await replay.ScenarioAsync("report-issue"), RecordedToken);

        var url = await issues.FileAsync(Report, new Uri("https://portal.example/requests/delivery/req-1"));

        // The issue's web address as GitHub gave it, which the replay points at itself.
        Assert.StartsWith(replay.Url.ToString(), url, StringComparison.Ordinal);
        Assert.EndsWith("/octokit-fixture-org/add-labels-to-issue/issues/1", url, StringComparison.Ordinal);
    }

    [Fact]
    public async Task File_WithATokenGitHubRefuses_Throws()
    {
        var issues = Issues(await replay.ScenarioAsync("report-issue"), "0000000000000000000000000000000000000009");

        await Assert.ThrowsAnyAsync<Octokit.ApiException>(() => issues.FileAsync(Report, null));
    }

    [Fact]
    public async Task File_WithoutATokenFile_SaysWhichSettingIsMissing()
    {
        var issues = new GitHubIssues(Options.Create(new HelpOptions { GitHub = new GitHubFilingOptions { Repository = "o/r", TokenFile = Path.Combine(_folder, "none") } }));

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => issues.FileAsync(Report, null));
        Assert.Contains("Portal:Help:GitHub:TokenFile", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Body_PutsWhatTheUserWroteInAFenceNothingInsideCanClose()
    {
        var words = "See ```this``` and ````that````, @octocat <script>x</script>";

        var body = GitHubIssues.Body(Report with { Words = words }, null);

        // The fence is longer than the longest run of backticks inside, so the words stay one literal block.
        Assert.Contains($"`````text\n{words}\n`````\n", body, StringComparison.Ordinal);
        Assert.Contains("```text\ndelivery req-1: failed\n", body, StringComparison.Ordinal);
        Assert.StartsWith("Reported by `alice` on 2026-12-04 12:00:00 UTC about delivery `req-1`.", body, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
