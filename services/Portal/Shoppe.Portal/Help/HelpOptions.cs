using System.ComponentModel.DataAnnotations;

namespace Shoppe.Portal.Help;

/// <summary>The "report a problem" form, bound from <c>Portal:Help</c>.</summary>
public sealed class HelpOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Portal:Help";

    /// <summary>The longest report a user may write, in characters.</summary>
    [Range(100, 20_000)]
    public int MaxWords { get; set; } = 4_000;

    /// <summary>How many of the request's last log lines go with a report.</summary>
    [Range(0, 500)]
    public int LastLines { get; set; } = 50;

    /// <summary>Where reports are filed as issues too, when a site configures a repository.</summary>
    public GitHubFilingOptions GitHub { get; set; } = new();
}

/// <summary>A GitHub repository reports are filed in, as issues (through Octokit).</summary>
public sealed class GitHubFilingOptions
{
    /// <summary><c>owner/name</c>; none: reports stay in the portal's store for operators only.</summary>
    [RegularExpression("^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$", ErrorMessage = "Portal:Help:GitHub:Repository must be owner/name.")]
    public string? Repository { get; set; }

    /// <summary>A file holding the token that may open issues there (read when a report is filed, never logged).</summary>
    public string? TokenFile { get; set; }

    /// <summary>The API's address: GitHub's, or a GitHub Enterprise server's (<c>https://host/api/v3/</c>).</summary>
    public Uri ApiUrl { get; set; } = new("https://api.github.com/");

    /// <summary>Labels put on each issue filed (none by default; e.g. <c>facility-report</c>).</summary>
    public List<string> Labels { get; set; } = [];

    /// <summary>How long filing one report may take before it is left in the store as not filed.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:05:00")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>Whether a repository is configured.</summary>
    public bool Enabled => !string.IsNullOrWhiteSpace(Repository);
}
