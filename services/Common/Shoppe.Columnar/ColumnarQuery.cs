using System.Collections.Concurrent;
using Apache.Arrow;
using Apache.Arrow.Types;
using Shoppe.Columnar.Selection;

namespace Shoppe.Columnar;

/// <summary>
/// A selection compiled against a dataset's schema: which columns to read, which events to keep (the filter) and
/// what to write for each kept event (the output columns). The filter and the computed columns are compiled into
/// one kernel (<see cref="KernelCompiler"/>). Plain columns and masked columns (<c>Muon_pt[Muon_pt &gt; 20]</c>)
/// keep their types; computed ones are float32 where they are a float32 column's value, float64 otherwise, boolean,
/// or int64 for <c>count()</c>. Events keep their file order. Thread-safe: one compiled query serves many files at once.
/// </summary>
public sealed class ColumnarQuery
{
    private readonly Func<Frame, int> _kernel;
    private readonly OutputPlan[] _outputs;
    private readonly Catalog _catalog;
    private readonly string[] _slots;
    private readonly int _eventOutputs;
    private readonly int _masks;
    private readonly int _lists;
    private readonly bool[] _loaded;
    private readonly FilterKernel? _filter;

    private static readonly string[] FourVectorFields = ["pt", "eta", "phi", "mass"];

    private ColumnarQuery(Func<Frame, int> kernel, OutputPlan[] outputs, Catalog catalog, string[] slots, bool[] loaded, Schema outputSchema, FilterKernel? filter)
    {
        _filter = filter;
        _loaded = loaded;
        _kernel = kernel;
        _outputs = outputs;
        _catalog = catalog;
        _slots = slots;
        _eventOutputs = outputs.Count(o => o.Computed?.Kind == OutputKind.Event);
        _masks = outputs.Count(o => o.Computed?.Kind == OutputKind.Keep);
        _lists = outputs.Count(o => o.Computed?.Kind == OutputKind.List);
        InputColumns = slots;
        OutputSchema = outputSchema;
    }

    /// <summary>The columns a file must provide, in the order of its schema.</summary>
    public IReadOnlyList<string> InputColumns { get; }

    public Schema OutputSchema { get; }

    /// <summary>The columns the filter alone reads (with the layout column of each collection it counts), in the order of the schema; empty without a filter.</summary>
    public IReadOnlyList<string> FilterColumns => _filter?.Slots ?? [];

    /// <summary>
    /// False only when no event of a row group can pass the filter, judged from its columns' bounds
    /// (<see cref="Io.ColumnarFile.Statistics"/>); true without a filter.
    /// </summary>
    public bool MayPass(Func<string, Io.ColumnStatistics?> statistics)
    {
        ArgumentNullException.ThrowIfNull(statistics);
        return _filter is null || new Pruning(statistics).MayPass(_filter.Bound);
    }

    /// <summary>How many events of <paramref name="batch"/> pass the filter; it needs only <see cref="FilterColumns"/>.</summary>
    public int CountPassing(RecordBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (_filter is not { } filter)
        {
            return batch.Length;
        }

        using var frame = new Frame(filter.Slots.Length, filter.Catalog.Collections.Count, 0, 0, 0) { Events = batch.Length };
        BatchLoader.Load(frame, batch, filter.Slots, filter.Loaded, filter.Catalog);
        frame.Rows = frame.Rent<int>(batch.Length);
        return filter.Kernel(frame);
    }

    /// <summary>Queries compiled lately, by schema and text: the files of a dataset share a schema, and a kernel costs milliseconds to compile.</summary>
    private static readonly ConcurrentDictionary<string, ColumnarQuery> Compiled = new(StringComparer.Ordinal);

    private const int MostCompiled = 256;

    /// <summary>Compiles <paramref name="columns"/> (each <c>expr</c> or <c>name = expr</c>) and an optional event filter.</summary>
    /// <exception cref="SelectionException">An expression does not parse or does not fit the schema; its message says where.</exception>
    public static ColumnarQuery Compile(Schema schema, IReadOnlyList<string> columns, string? filter)
    {
        ArgumentNullException.ThrowIfNull(schema);
        ArgumentNullException.ThrowIfNull(columns);
        var key = Key(schema, columns, filter);
        if (Compiled.TryGetValue(key, out var known))
        {
            return known;
        }

        var query = CompileNew(schema, columns, filter);
        if (Compiled.Count >= MostCompiled)
        {
            Compiled.Clear(); // rarely reached: a new set of queries, and recompiling costs little
        }

        Compiled[key] = query;
        return query;
    }

    /// <summary>The schema's digest (a NanoAOD schema is some 50 kB written out) and the query's text.</summary>
    private static string Key(Schema schema, IReadOnlyList<string> columns, string? filter)
    {
        var fields = new System.Text.StringBuilder();
        foreach (var field in schema.FieldsList)
        {
            fields.Append(field.Name).Append(':').Append(field.DataType.Name).Append(field.DataType is NestedType nested ? string.Concat(nested.Fields.Select(f => f.DataType.Name + f.IsNullable)) : "").Append(field.IsNullable ? '?' : '!').Append('\n');
        }

        var key = new System.Text.StringBuilder(Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(fields.ToString()))));
        key.Append('\u0001').Append(filter).Append('\u0001');
        foreach (var column in columns)
        {
            key.Append(column).Append('\u0002');
        }

        return key.ToString();
    }

    private static ColumnarQuery CompileNew(Schema schema, IReadOnlyList<string> columns, string? filter)
    {
        var known = new Dictionary<string, ColumnInfo>(StringComparer.Ordinal);
        foreach (var field in schema.FieldsList)
        {
            if (ArrowColumns.Describe(field) is { } info)
            {
                known[field.Name] = info;
            }
        }

        if (columns.Count == 0)
        {
            throw new SelectionException("at least one output column is needed", "", 0) { Where = "columns" };
        }

        var catalog = new Catalog(known);
        Bound? boundFilter = null;
        if (!string.IsNullOrWhiteSpace(filter))
        {
            try
            {
                boundFilter = new Binder(catalog, filter).Bind(SelectionParser.Parse(filter));
            }
            catch (SelectionException ex) when (ex.Where is null)
            {
                throw new SelectionException(ex.Reason, ex.Text, ex.Position, ex.Column) { Where = "filter" };
            }

            if (boundFilter.Kind != ValueKind.Bool)
            {
                throw new SelectionException("the filter must be true or false for each event (a comparison such as MET_pt > 30)", filter, 0) { Where = "filter" };
            }

            if (boundFilter.Stream is not null)
            {
                throw new SelectionException($"the filter has {boundFilter.Stream.Describe()}; reduce it to one per event with any(...), all(...) or count(...) >= n", filter, 0) { Where = "filter" };
            }
        }

        var outputs = new List<OutputPlan>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        var slots = new Dictionary<OutputKind, int>();
        for (var c = 0; c < columns.Count; c++)
        {
            var text = columns[c] ?? "";
            OutputPlan plan;
            try
            {
                var column = SelectionParser.ParseColumn(text);
                var bound = new Binder(catalog, text).Bind(column.Expression);
                plan = Plan(column, bound, schema, slots);
                if (!names.Add(plan.Name))
                {
                    throw new SelectionException($"two output columns are named '{plan.Name}'; name one with 'name = ...'", text, 0);
                }
            }
            catch (SelectionException ex) when (ex.Where is null)
            {
                throw new SelectionException(ex.Reason, ex.Text, ex.Position, ex.Column) { Where = $"column {c + 1}" };
            }

            outputs.Add(plan);
        }

        // A collection counted but none of its columns read (count(m in Muon)): its layout comes from one column.
        foreach (var collection in catalog.Collections)
        {
            if (!catalog.Used.Any(u => known[u].IsList && known[u].Collection == collection.Name))
            {
                catalog.Used.Add(collection.LayoutColumn);
            }
        }

        var inputs = schema.FieldsList.Select(f => f.Name).Where(catalog.Used.Contains).ToArray();
        var slotOf = inputs.Select((name, i) => (name, i)).ToDictionary(p => p.name, p => p.i, StringComparer.Ordinal);
        var compiler = new KernelCompiler(catalog, slotOf);
        var kernel = compiler.Compile(boundFilter, [.. outputs.Where(o => o.Computed is not null).Select(o => o.Computed!)]);
        var fields = outputs.Select(o => o.Field ?? o.ComputedField()).ToList();
        // Loaded into the kernel's arrays: what it reads, and what the four-vectors are computed from.
        var fourVectors = catalog.FourVectors.SelectMany(c => FourVectorFields.Select(f => c.Name + "_" + f)).ToHashSet(StringComparer.Ordinal);
        var loaded = inputs.Select(n => compiler.ColumnsRead.Contains(n) || fourVectors.Contains(n)).ToArray();
        var filterOnly = boundFilter is null ? null : FilterKernel.Compile(schema, known, filter!, inputs);
        return new ColumnarQuery(kernel, [.. outputs], catalog, inputs, loaded, new Schema(fields, null), filterOnly);
    }

    /// <summary>The filter alone, bound again with a catalog of its own: a kernel that only counts, over only the filter's columns.</summary>
    private sealed record FilterKernel(Bound Bound, Func<Frame, int> Kernel, Catalog Catalog, string[] Slots, bool[] Loaded)
    {
        public static FilterKernel Compile(Schema schema, Dictionary<string, ColumnInfo> known, string filter, string[] queryInputs)
        {
            var catalog = new Catalog(known);
            var bound = new Binder(catalog, filter).Bind(SelectionParser.Parse(filter));
            foreach (var collection in catalog.Collections)
            {
                if (!catalog.Used.Any(u => known[u].IsList && known[u].Collection == collection.Name))
                {
                    // Counted only: its layout from a column the whole query reads anyway (any of them will do).
                    catalog.Used.Add(queryInputs.FirstOrDefault(u => known[u].IsList && known[u].Collection == collection.Name) ?? collection.LayoutColumn);
                }
            }

            var slots = schema.FieldsList.Select(f => f.Name).Where(catalog.Used.Contains).ToArray();
            var compiler = new KernelCompiler(catalog, slots.Select((name, i) => (name, i)).ToDictionary(p => p.name, p => p.i, StringComparer.Ordinal));
            var kernel = compiler.Compile(bound, []);
            var fourVectors = catalog.FourVectors.SelectMany(c => FourVectorFields.Select(f => c.Name + "_" + f)).ToHashSet(StringComparer.Ordinal);
            return new FilterKernel(bound, kernel, catalog, slots, [.. slots.Select(n => compiler.ColumnsRead.Contains(n) || fourVectors.Contains(n))]);
        }
    }

    private static OutputPlan Plan(OutputColumn column, Bound bound, Schema schema, Dictionary<OutputKind, int> slots)
    {
        // Lists are always written as large lists (64-bit offsets), as ParquetSharp reads NanoAOD.
        static IArrowType Written(IArrowType type) => type is ListType list ? new LargeListType(list.ValueField) : type;

        KernelOutput Next(Bound value, OutputKind kind)
        {
            var slot = slots.GetValueOrDefault(kind);
            slots[kind] = slot + 1;
            return new KernelOutput(value, kind, slot);
        }

        if (bound is ConstantBound)
        {
            throw new SelectionException("an output column must read the data; a constant is the same for every event", column.Text, 0);
        }

        if (bound.Kind is not (ValueKind.Number or ValueKind.Bool))
        {
            throw new SelectionException($"an output column is a number or true/false; this is {(bound.Kind == ValueKind.Choice ? "a choice: write one of its fields (argmin(...).pt)" : "an object: write one of its fields (.pt)")}", column.Text, 0);
        }

        if (bound is EventColumnBound c)
        {
            return new OutputPlan(column.Name, c.Column.Name, new Field(column.Name, Written(schema.GetFieldByName(c.Column.Name).DataType), nullable: false), null);
        }

        if (bound is FieldBound { Target: VariableBound, Stream.Filters.Count: 0 } plain && plain.Columns.Count == 1)
        {
            var name = plain.Columns[0].Name;
            return new OutputPlan(column.Name, name, new Field(column.Name, Written(schema.GetFieldByName(name).DataType), nullable: false), null);
        }

        if (bound is MaskBound { Target: FieldBound { Target: VariableBound, Stream.Filters.Count: 0 } target } && target.Columns.Count == 1)
        {
            var name = target.Columns[0].Name;
            return new OutputPlan(column.Name, name, new Field(column.Name, Written(schema.GetFieldByName(name).DataType), nullable: false), Next(bound, OutputKind.Keep));
        }

        return new OutputPlan(column.Name, null, null, Next(bound, bound.Stream is null ? OutputKind.Event : OutputKind.List));
    }

    /// <summary>Runs the query on one batch of a file (its columns named as in the schema); null when no event passes.</summary>
    public RecordBatch? Execute(RecordBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        using var frame = new Frame(_slots.Length, _catalog.Collections.Count, _eventOutputs, _masks, _lists) { Events = batch.Length };
        BatchLoader.Load(frame, batch, _slots, _loaded, _catalog);
        frame.Rows = frame.Rent<int>(batch.Length);
        foreach (var output in _outputs)
        {
            if (output.Computed is { } computed)
            {
                switch (computed.Kind)
                {
                    case OutputKind.Event:
                        frame.Values[computed.Slot] = frame.Rent(computed.ValueType, batch.Length);
                        break;
                    case OutputKind.Keep:
                        // One flag per object of the column's collection, whose offsets the loader has read.
                        var collection = _catalog.Collection(_catalog.Columns[output.Source!].Collection)!;
                        frame.Keeps[computed.Slot] = frame.Rent<byte>(frame.Offsets[collection.Id][batch.Length]);
                        break;
                    default:
                        frame.Lists[computed.Slot] = computed.ValueType == typeof(float) ? new ListBuilder<float>(batch.Length)
                            : computed.ValueType == typeof(bool) ? new ListBuilder<bool>(batch.Length)
                            : new ListBuilder<double>(batch.Length);
                        break;
                }
            }
        }

        var kept = _kernel(frame);
        if (kept == 0)
        {
            return null;
        }

        var rows = frame.Rows.AsSpan(0, kept);
        var arrays = new IArrowArray[_outputs.Length];
        for (var i = 0; i < _outputs.Length; i++)
        {
            arrays[i] = _outputs[i].Build(batch, frame, rows);
        }

        return new RecordBatch(OutputSchema, arrays, kept);
    }

    /// <summary>One output column: passed through from <see cref="Source"/> (whole, or cut by a mask the kernel computes), or computed.</summary>
    private sealed record OutputPlan(string Name, string? Source, Field? Field, KernelOutput? Computed)
    {
        public Field ComputedField()
        {
            var type = Computed!.ValueType;
            IArrowType element = type == typeof(bool) ? BooleanType.Default
                : type == typeof(long) ? Int64Type.Default
                : type == typeof(float) ? FloatType.Default
                : DoubleType.Default;
            var arrowType = Computed.Kind == OutputKind.List ? new LargeListType(new Field("element", element, nullable: false)) : element;
            return new Field(Name, arrowType, nullable: false);
        }

        public IArrowArray Build(RecordBatch batch, Frame frame, ReadOnlySpan<int> rows)
        {
            if (Source is not null)
            {
                // Copied even when every event is kept: the output batch owns its buffers and is disposed on
                // its own (sharing the input's native buffers would release them twice).
                var array = batch.Column(Source);
                if (Computed is null)
                {
                    return array is LargeListArray or ListArray ? ArrowColumns.TakeLists(array, rows, keep: null) : ArrowColumns.Take(array, rows);
                }

                return ArrowColumns.TakeLists(array, rows, frame.Keeps[Computed.Slot]);
            }

            return Computed!.Kind == OutputKind.Event
                ? ArrowColumns.FromValues(frame.Values[Computed.Slot], rows.Length)
                : frame.Lists[Computed.Slot].Build();
        }
    }
}
