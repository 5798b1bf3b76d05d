namespace Shoppe.Cache.Origins;

/// <summary>Which origin serves a path: the one with the longest matching prefix.</summary>
public sealed class OriginRouter
{
    private readonly List<(string Prefix, IOrigin Origin)> _routes;

    /// <summary>Routes over the given origins.</summary>
    public OriginRouter(IEnumerable<(string Prefix, IOrigin Origin)> routes) =>
        _routes = routes.Select(r => (OriginOptions.NormalizePrefix(r.Prefix), r.Origin)).OrderByDescending(r => r.Item1.Length).ToList();

    /// <summary>The origins.</summary>
    public IEnumerable<IOrigin> Origins => _routes.Select(r => r.Origin);

    /// <summary>The origin serving <paramref name="path"/> and the path relative to it, or null.</summary>
    public (IOrigin Origin, string RelativePath)? Resolve(CachePath path)
    {
        foreach (var (prefix, origin) in _routes)
        {
            if (prefix == "/")
            {
                return (origin, path.Value);
            }

            if (path.Value.StartsWith(prefix + "/", StringComparison.Ordinal))
            {
                return (origin, path.Value[prefix.Length..]);
            }
        }

        return null;
    }
}
