using System.Globalization;

namespace Shoppe.Portal.Requests;

/// <summary>Times as a page says them: how long ago, or the date once it is old.</summary>
public static class Ages
{
    public static string Ago(DateTimeOffset at, DateTimeOffset now)
    {
        var age = now - at;
        return age.TotalSeconds < 60 ? $"{Math.Max(0, (int)age.TotalSeconds)} s ago"
            : age.TotalMinutes < 60 ? $"{(int)age.TotalMinutes} min ago"
            : age.TotalHours < 48 ? $"{(int)age.TotalHours} h ago"
            : at.ToUniversalTime().ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture) + " UTC";
    }
}
