using Apache.Arrow;
using Apache.Arrow.Types;
using Shoppe.Columnar.Selection;

namespace Shoppe.Columnar;

/// <summary>
/// A selection compiled against a dataset's schema: which columns to read, which events to keep (the filter) and
/// what to write for each kept event (the output columns). Plain columns and masked columns
/// (<c>Muon_pt[Muon_pt &gt; 20]</c>) keep their types; computed ones are written as float64, boolean or, for
/// <c>count()</c>, int64. Events keep their file order. Thread-safe: one compiled query serves many files at once.
/// </summary>
public sealed class ColumnarQuery
{
    private readonly Expr? _filter;
    private readonly OutputPlan[] _outputs;
    private readonly Dictionary<string, ColumnInfo> _columns;

    private ColumnarQuery(Expr? filter, OutputPlan[] outputs, Dictionary<string, ColumnInfo> columns, IReadOnlyList<string> inputColumns, Schema outputSchema)
    {
        _filter = filter;
        _outputs = outputs;
        _columns = columns;
        InputColumns = inputColumns;
        OutputSchema = outputSchema;
    }

    /// <summary>The columns a file must provide, in the order of its schema.</summary>
    public IReadOnlyList<string> InputColumns { get; }

    public Schema OutputSchema { get; }

    /// <summary>Compiles <paramref name="columns"/> (each <c>expr</c> or <c>name = expr</c>) and an optional event filter.</summary>
    /// <exception cref="SelectionException">An expression does not parse or does not fit the schema; its message says where.</exception>
    public static ColumnarQuery Compile(Schema schema, IReadOnlyList<string> columns, string? filter)
    {
        ArgumentNullException.ThrowIfNull(schema);
        ArgumentNullException.ThrowIfNull(columns);
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

        Expr? boundFilter = null;
        var used = new HashSet<string>(StringComparer.Ordinal);
        if (!string.IsNullOrWhiteSpace(filter))
        {
            var binder = new Binder(known, filter);
            try
            {
                boundFilter = binder.Bind(SelectionParser.Parse(filter));
            }
            catch (SelectionException ex) when (ex.Where is null)
            {
                throw new SelectionException(ex.Reason, ex.Text, ex.Position, ex.Column) { Where = "filter" };
            }

            if (boundFilter.Kind != ValueKind.Bool)
            {
                throw new SelectionException("the filter must be true or false for each event (a comparison such as MET_pt > 30)", filter, 0) { Where = "filter" };
            }

            if (boundFilter.Shape.IsJagged)
            {
                throw new SelectionException($"the filter has {boundFilter.Shape.Describe()}; reduce it to one per event with any(...), all(...) or count(...) >= n", filter, 0) { Where = "filter" };
            }

            used.UnionWith(binder.UsedColumns);
        }

        var outputs = new List<OutputPlan>();
        var fields = new List<Field>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var c = 0; c < columns.Count; c++)
        {
            var text = columns[c] ?? "";
            var where = $"column {c + 1}";
            OutputPlan plan;
            try
            {
                var column = SelectionParser.ParseColumn(text);
                var binder = new Binder(known, text);
                var expr = binder.Bind(column.Expression);
                used.UnionWith(binder.UsedColumns);
                plan = Plan(column, expr, schema);
                if (!names.Add(plan.Name))
                {
                    throw new SelectionException($"two output columns are named '{plan.Name}'; name one with 'name = ...'", text, 0);
                }
            }
            catch (SelectionException ex) when (ex.Where is null)
            {
                throw new SelectionException(ex.Reason, ex.Text, ex.Position, ex.Column) { Where = where };
            }

            outputs.Add(plan);
            fields.Add(plan.Field);
        }

        var inputs = schema.FieldsList.Select(f => f.Name).Where(used.Contains).ToArray();
        return new ColumnarQuery(boundFilter, [.. outputs], known, inputs, new Schema(fields, null));
    }

    private static OutputPlan Plan(OutputColumn column, Expr expr, Schema schema)
    {
        // Lists are always written as large lists (64-bit offsets), as ParquetSharp reads NanoAOD.
        static IArrowType Written(IArrowType type) => type is ListType list ? new LargeListType(list.ValueField) : type;

        if (expr is ConstantExpr)
        {
            throw new SelectionException("an output column must read the data; a constant is the same for every event", column.Text, 0);
        }

        if (expr is ColumnExpr c)
        {
            var field = schema.GetFieldByName(c.Name);
            return new OutputPlan(column.Name, expr, new Field(column.Name, Written(field.DataType), nullable: false), Source: c.Name, Mask: null);
        }

        if (expr is MaskExpr { Target: ColumnExpr target } masked)
        {
            var field = schema.GetFieldByName(target.Name);
            return new OutputPlan(column.Name, expr, new Field(column.Name, Written(field.DataType), nullable: false), Source: target.Name, Mask: masked.Mask);
        }

        if (expr.Shape.Level == Level.Combinations)
        {
            throw new SelectionException("an output column cannot be a comprehension; reduce it with any(), count(), max() ...", column.Text, 0);
        }

        var type = expr.Kind == ValueKind.Bool ? OutputType.Bool : expr is ReduceExpr { Reduction: Reduction.Count } ? OutputType.Count : OutputType.Double;
        IArrowType element = type switch
        {
            OutputType.Bool => BooleanType.Default,
            OutputType.Count => Int64Type.Default,
            _ => DoubleType.Default,
        };
        var arrowType = expr.Shape.IsJagged ? new LargeListType(new Field("element", element, nullable: false)) : element;
        return new OutputPlan(column.Name, expr, new Field(column.Name, arrowType, nullable: false), Source: null, Mask: null, type);
    }

    /// <summary>Runs the query on one batch of a file (its columns named as in the schema); null when no event passes.</summary>
    public RecordBatch? Execute(RecordBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var layouts = new Dictionary<string, int[]>(StringComparer.Ordinal);
        var context = new EvalContext(batch.Length, name => Load(batch, name, layouts));

        int[] rows;
        if (_filter is null)
        {
            rows = Enumerable.Range(0, batch.Length).ToArray();
        }
        else
        {
            var keep = _filter.Evaluate(context);
            if (keep.IsScalar)
            {
                rows = keep.Values[0] != 0 ? Enumerable.Range(0, batch.Length).ToArray() : [];
            }
            else
            {
                var selected = new List<int>(batch.Length);
                for (var e = 0; e < keep.Values.Length; e++)
                {
                    if (keep.Values[e] != 0)
                    {
                        selected.Add(e);
                    }
                }

                rows = [.. selected];
            }
        }

        if (rows.Length == 0)
        {
            return null;
        }

        var arrays = new IArrowArray[_outputs.Length];
        for (var i = 0; i < _outputs.Length; i++)
        {
            arrays[i] = _outputs[i].Build(batch, context, rows);
        }

        return new RecordBatch(OutputSchema, arrays, rows.Length);
    }

    private Vec Load(RecordBatch batch, string name, Dictionary<string, int[]> layouts)
    {
        var array = batch.Column(name) ?? throw new ColumnarDataException($"The batch has no column {name}.");
        var info = _columns[name];
        if (!info.IsList)
        {
            return new Vec(ArrowColumns.ToDoubles(array, 0, array.Length));
        }

        var (offsets, start) = ArrowColumns.Layout(array);
        // Columns of one collection share one offsets array, so combining them needs no comparison.
        if (layouts.TryGetValue(info.Collection, out var shared))
        {
            VecMath.EnsureSameLayout(shared, offsets);
            offsets = shared;
        }
        else
        {
            layouts[info.Collection] = offsets;
        }

        return new Vec(ArrowColumns.ToDoubles(ArrowColumns.Values(array), start, offsets[^1]), offsets);
    }

    private sealed record OutputPlan(string Name, Expr Expr, Field Field, string? Source, Expr? Mask, OutputType Type = OutputType.Double)
    {
        public IArrowArray Build(RecordBatch batch, EvalContext context, int[] rows)
        {
            if (Source is not null)
            {
                var array = batch.Column(Source);
                if (Mask is null)
                {
                    // Copied even when every event is kept: the output batch owns its buffers and is disposed on
                    // its own (sharing the input's native buffers would release them twice).
                    return array is LargeListArray or ListArray ? ArrowColumns.TakeLists(array, rows, keep: null) : ArrowColumns.Take(array, rows);
                }

                var target = context.Column(Source);
                var keep = Mask.Evaluate(context);
                if (keep.Offsets is null)
                {
                    keep = keep.BroadcastEvents(context.Events).BroadcastTo(target.Offsets!);
                }

                return ArrowColumns.TakeLists(array, rows, keep.Values);
            }

            var vec = Expr.Evaluate(context);
            if (vec.IsScalar)
            {
                vec = vec.BroadcastEvents(context.Events);
            }

            return vec.Offsets is null ? ArrowColumns.FromEvents(vec.Values, rows, Type) : ArrowColumns.FromJagged(vec, rows, Type);
        }
    }
}
