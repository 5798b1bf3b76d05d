namespace Shoppe.Columnar.Selection;

/// <summary>
/// What one query knows of its dataset and what its expressions use: the columns, the collections (numbered once for
/// the whole query), and the collections whose four-vectors are summed (computed once per batch).
/// </summary>
internal sealed class Catalog(IReadOnlyDictionary<string, ColumnInfo> columns)
{
    private readonly Dictionary<string, Collection> _collections = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Variable> _hidden = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Stream> _streams = new(StringComparer.Ordinal);

    public IReadOnlyDictionary<string, ColumnInfo> Columns { get; } = columns;

    /// <summary>Every column the bound expressions read.</summary>
    public HashSet<string> Used { get; } = new(StringComparer.Ordinal);

    public IReadOnlyCollection<Collection> Collections => _collections.Values;

    /// <summary>Collections whose objects' four-vectors (px, py, pz, E) are needed.</summary>
    public HashSet<Collection> FourVectors { get; } = [];

    /// <summary>The collection of that name, or null when no per-object column starts with it.</summary>
    public Collection? Collection(string name)
    {
        if (_collections.TryGetValue(name, out var known))
        {
            return known;
        }

        var layout = Columns.Values
            .Where(c => c.IsList && c.Collection == name)
            .OrderBy(c => c.Name == name + "_pt" ? 0 : 1).ThenBy(c => c.Name, StringComparer.Ordinal)
            .FirstOrDefault();
        if (layout is null)
        {
            return null;
        }

        var collection = new Collection(name, _collections.Count, layout.Name);
        _collections[name] = collection;
        return collection;
    }

    /// <summary>The stream of every object of a collection, which its plain per-object columns run over.</summary>
    public Stream StreamOf(Collection collection)
    {
        if (!_streams.TryGetValue(collection.Name, out var stream))
        {
            var variable = new Variable("$" + collection.Name, new Source([collection]));
            _hidden[collection.Name] = variable;
            stream = new Stream(variable, []);
            _streams[collection.Name] = stream;
        }

        return stream;
    }
}
