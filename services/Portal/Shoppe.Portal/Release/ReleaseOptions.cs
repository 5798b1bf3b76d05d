namespace Shoppe.Portal.Release;

/// <summary>Where the portal finds the release the facility runs, bound from <c>Portal:Release</c>.</summary>
public sealed class ReleaseOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Portal:Release";

    /// <summary>
    /// A folder laid out as the repository's <c>stack/</c> is: <c>stack/releases/&lt;version&gt;/</c> (the signed
    /// manifest, its notes and badge) and <c>stack/keys/</c> (the keys trusted to sign). The repository itself on one
    /// machine; a copy of those two folders on a site. None: the portal says it knows no release.
    /// </summary>
    public string? Repository { get; set; }
}
