using System.ComponentModel.DataAnnotations;

namespace Shoppe.Logs.Query;

/// <summary>Limits of the query API, bound from <c>Logs:Query</c>.</summary>
public sealed class LogsQueryOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Logs:Query";

    /// <summary>Records per page when the client does not say.</summary>
    [Range(1, 100_000)]
    public int DefaultLimit { get; set; } = 1000;

    /// <summary>The most records one page may hold.</summary>
    [Range(1, 100_000)]
    public int MaxLimit { get; set; } = 10_000;

    /// <summary>How often a follower looks for new records.</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:01:00")]
    public TimeSpan FollowPollInterval { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// How far back in time a follower looks again for records that arrived after later ones (services export in
    /// batches on their own schedules: a record can come in after another service's later one was streamed).
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan FollowLookBack { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The longest a follow stream stays open (the client may reconnect with Last-Event-ID).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan FollowMaxDuration { get; set; } = TimeSpan.FromHours(1);
}
