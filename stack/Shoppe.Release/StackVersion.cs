using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Shoppe.Release;

/// <summary>
/// A release version, <c>MAJOR.MINOR.PATCH</c> with an optional pre-release tag (<c>0.2.0-rc.1</c>), ordered as
/// Semantic Versioning 2.0 orders them (a pre-release sorts before its release; tags compare field by field).
/// </summary>
public sealed record StackVersion(int Major, int Minor, int Patch, string? PreRelease) : IComparable<StackVersion>
{
    /// <summary>Parses <paramref name="text"/>, or returns false when it is not a version.</summary>
    public static bool TryParse(string? text, [NotNullWhen(true)] out StackVersion? version)
    {
        version = null;
        if (string.IsNullOrEmpty(text) || text.Length > 64)
        {
            return false;
        }

        var dash = text.IndexOf('-', StringComparison.Ordinal);
        var core = dash < 0 ? text : text[..dash];
        var pre = dash < 0 ? null : text[(dash + 1)..];
        var parts = core.Split('.');
        if (parts.Length != 3 || !parts.All(IsNumber) || (pre is not null && !IsPreRelease(pre)))
        {
            return false;
        }

        version = new StackVersion(int.Parse(parts[0], CultureInfo.InvariantCulture), int.Parse(parts[1], CultureInfo.InvariantCulture),
            int.Parse(parts[2], CultureInfo.InvariantCulture), pre);
        return true;
    }

    /// <summary>Parses <paramref name="text"/> or throws with the reason.</summary>
    public static StackVersion Parse(string text) =>
        TryParse(text, out var version) ? version : throw new FormatException($"'{text}' is not a version: use MAJOR.MINOR.PATCH, e.g. 0.2.0 or 0.2.0-rc.1.");

    /// <inheritdoc/>
    public int CompareTo(StackVersion? other)
    {
        if (other is null)
        {
            return 1;
        }

        var byCore = (Major, Minor, Patch).CompareTo((other.Major, other.Minor, other.Patch));
        if (byCore != 0)
        {
            return byCore;
        }

        return (PreRelease, other.PreRelease) switch
        {
            (null, null) => 0,
            (null, _) => 1,
            (_, null) => -1,
            _ => ComparePreRelease(PreRelease, other.PreRelease),
        };
    }

    public static bool operator >(StackVersion left, StackVersion right) => left.CompareTo(right) > 0;

    public static bool operator <(StackVersion left, StackVersion right) => left.CompareTo(right) < 0;

    public static bool operator >=(StackVersion left, StackVersion right) => left.CompareTo(right) >= 0;

    public static bool operator <=(StackVersion left, StackVersion right) => left.CompareTo(right) <= 0;

    /// <inheritdoc/>
    public override string ToString() => PreRelease is null ? $"{Major}.{Minor}.{Patch}" : $"{Major}.{Minor}.{Patch}-{PreRelease}";

    private static bool IsNumber(string part) =>
        part.Length is > 0 and <= 9 && part.All(char.IsAsciiDigit) && (part.Length == 1 || part[0] != '0');

    private static bool IsPreRelease(string pre) =>
        pre.Split('.').All(p => p.Length > 0 && p.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'));

    private static int ComparePreRelease(string left, string right)
    {
        var a = left.Split('.');
        var b = right.Split('.');
        for (var i = 0; i < Math.Min(a.Length, b.Length); i++)
        {
            var aNumeric = int.TryParse(a[i], NumberStyles.None, CultureInfo.InvariantCulture, out var x);
            var bNumeric = int.TryParse(b[i], NumberStyles.None, CultureInfo.InvariantCulture, out var y);
            var order = (aNumeric, bNumeric) switch
            {
                (true, true) => x.CompareTo(y),
                (true, false) => -1,
                (false, true) => 1,
                _ => string.CompareOrdinal(a[i], b[i]),
            };
            if (order != 0)
            {
                return order;
            }
        }

        return a.Length.CompareTo(b.Length);
    }
}
