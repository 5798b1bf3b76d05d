using System.Text;
using Microsoft.Extensions.Options;
using Octokit;
using Octokit.Internal;

namespace Shoppe.Portal.Help;

/// <summary>Files problem reports as issues in the site's GitHub repository, through Octokit.</summary>
public sealed class GitHubIssues(IOptions<HelpOptions> options)
{
    /// <summary>Whether a repository is configured.</summary>
    public bool Enabled => options.Value.GitHub.Enabled;

    /// <summary>Opens the report's issue and labels it; returns its web address.</summary>
    /// <exception cref="ApiException">GitHub refused.</exception>
    /// <exception cref="InvalidOperationException">The token file is missing or empty.</exception>
    public async Task<string> FileAsync(ProblemReport report, Uri? requestPage)
    {
        ArgumentNullException.ThrowIfNull(report);
        var settings = options.Value.GitHub;
        var parts = settings.Repository!.Split('/'); // owner/name, as its option's pattern requires
        var (owner, name) = (parts[0], parts[1]);
        var token = settings.TokenFile is { Length: > 0 } file && File.Exists(file) ? (await File.ReadAllTextAsync(file)).Trim() : "";
        if (token.Length == 0)
        {
            throw new InvalidOperationException($"No GitHub token: Portal:Help:GitHub:TokenFile ({settings.TokenFile ?? "not set"}) is missing or empty.");
        }

        var connection = new Connection(new ProductHeaderValue("coffea-shoppe-portal"), settings.ApiUrl, new InMemoryCredentialStore(new Credentials(token)));
        var client = new GitHubClient(connection);
        var issue = await client.Issue.Create(owner, name, new NewIssue(Title(report)) { Body = Body(report, requestPage) });
        if (settings.Labels.Count > 0)
        {
            // A separate call (as GitHub's own clients do): a token that may open issues but not label them still files.
            try
            {
                await client.Issue.Labels.AddToIssue(owner, name, issue.Number, [.. settings.Labels]);
            }
            catch (ApiException)
            {
                // the issue stands without its labels
            }
        }

        return issue.HtmlUrl;
    }

    /// <summary>The issue's title: what the report is about, not who wrote it.</summary>
    public static string Title(ProblemReport report) => $"Problem with {report.Kind} {report.RequestId} (portal report {report.Id})";

    /// <summary>
    /// The issue's Markdown: the user's words and the attachment each in a fence longer than any run of backticks in
    /// them, so nothing a user wrote renders as markup, mentions anyone or closes the block.
    /// </summary>
    public static string Body(ProblemReport report, Uri? requestPage)
    {
        ArgumentNullException.ThrowIfNull(report);
        var body = new StringBuilder();
        body.Append("Reported by `").Append(report.User.Replace("`", "", StringComparison.Ordinal)).Append("` on ").Append(report.At.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", System.Globalization.CultureInfo.InvariantCulture))
            .Append(" about ").Append(report.Kind).Append(" `").Append(report.RequestId).Append('`');
        if (requestPage is not null)
        {
            body.Append(" (").Append(requestPage).Append(')');
        }

        body.Append(".\n\n### What went wrong\n\n");
        Fence(body, report.Words);
        body.Append("\n### The request when it was reported\n\n");
        Fence(body, report.Attachment);
        return body.ToString();
    }

    private static void Fence(StringBuilder body, string text)
    {
        var longest = 0;
        var run = 0;
        foreach (var c in text)
        {
            run = c == '`' ? run + 1 : 0;
            longest = Math.Max(longest, run);
        }

        var fence = new string('`', Math.Max(3, longest + 1));
        body.Append(fence).Append("text\n").Append(text.TrimEnd('\n')).Append('\n').Append(fence).Append('\n');
    }
}
