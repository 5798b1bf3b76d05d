namespace Shoppe.Columnar.Selection;

/// <summary>What a batch offers an expression while it runs: its columns as vectors and the comprehension in force.</summary>
internal sealed class EvalContext(int events, Func<string, Vec> columns)
{
    private readonly Dictionary<string, Vec> _columns = new(StringComparer.Ordinal);

    public int Events { get; } = events;

    public ComprehensionScope? Scope { get; set; }

    private Dictionary<Expr, Vec>? _remembered;

    /// <summary>A shared expression's value, computed at its first use in this batch. (Comprehensions do not nest, so
    /// an expression inside one is only ever evaluated in that one scope.)</summary>
    public Vec Remember(Expr expr)
    {
        _remembered ??= new Dictionary<Expr, Vec>(ReferenceEqualityComparer.Instance);
        if (!_remembered.TryGetValue(expr, out var value))
        {
            value = expr.ComputeOnce(this);
            _remembered[expr] = value;
        }

        return value;
    }

    public Vec Column(string name)
    {
        if (!_columns.TryGetValue(name, out var vec))
        {
            vec = columns(name);
            _columns[name] = vec;
        }

        return vec;
    }
}

/// <summary>The objects (or pairs) a comprehension runs over: for each combination, the element index of each variable.</summary>
internal sealed class ComprehensionScope(string[] variables, int[][] indices, int[] offsets)
{
    public string[] Variables { get; } = variables;

    public int[][] Indices { get; } = indices;

    /// <summary>Per-event ranges of combinations.</summary>
    public int[] Offsets { get; } = offsets;

    public int[] IndexOf(string variable) => Indices[Array.IndexOf(Variables, variable)];
}

/// <summary>A bound, typed expression, ready to run on batch after batch.</summary>
internal abstract class Expr(Shape shape, ValueKind kind)
{
    public Shape Shape { get; } = shape;

    public ValueKind Kind { get; } = kind;

    /// <summary>Bound from a node the expression names more than once (the middle of <c>60 &lt; mass(a, b) &lt; 120</c>): computed once per batch.</summary>
    public bool Shared { get; set; }

    public Vec Evaluate(EvalContext context) => Shared ? context.Remember(this) : Compute(context);

    internal Vec ComputeOnce(EvalContext context) => Compute(context);

    protected abstract Vec Compute(EvalContext context);
}

internal sealed class ConstantExpr(double value, ValueKind kind) : Expr(Shape.Scalar, kind)
{
    public double Value { get; } = value;

    protected override Vec Compute(EvalContext context) => Vec.Constant(Value);
}

internal sealed class ColumnExpr(string name, Shape shape, ValueKind kind) : Expr(shape, kind)
{
    public string Name { get; } = name;

    protected override Vec Compute(EvalContext context) => context.Column(Name);
}

/// <summary><c>m.pt</c>: the column <c>Muon_pt</c> at the object the variable stands for, in each combination.</summary>
internal sealed class MemberExpr(string variable, string column, Shape shape, ValueKind kind) : Expr(shape, kind)
{
    protected override Vec Compute(EvalContext context)
    {
        var scope = context.Scope!;
        var source = context.Column(column).Values;
        var index = scope.IndexOf(variable);
        var values = GC.AllocateUninitializedArray<double>(index.Length);
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = source[index[i]];
        }

        return new Vec(values, scope.Offsets);
    }
}

internal sealed class UnaryExpr(Func<Vec, Vec> op, Expr operand, ValueKind kind) : Expr(operand.Shape, kind)
{
    protected override Vec Compute(EvalContext context) => op(operand.Evaluate(context));
}

internal sealed class BinaryExpr(Func<Vec, Vec, Vec> op, Expr left, Expr right, Shape shape, ValueKind kind) : Expr(shape, kind)
{
    protected override Vec Compute(EvalContext context)
    {
        return op(left.Evaluate(context), right.Evaluate(context));
    }
}

internal enum Reduction
{
    Count,
    Sum,
    Max,
    Min,
    Any,
    All,
}

/// <summary><c>count sum max min any all</c> of a jagged value: one value per event.</summary>
internal sealed class ReduceExpr(Reduction reduction, Expr operand) : Expr(Shape.Event, reduction is Reduction.Any or Reduction.All ? ValueKind.Bool : ValueKind.Number)
{
    public Reduction Reduction { get; } = reduction;

    protected override Vec Compute(EvalContext context)
    {
        var vec = operand.Evaluate(context);
        var offsets = vec.Offsets!;
        var values = vec.Values;
        var result = GC.AllocateUninitializedArray<double>(offsets.Length - 1);
        var countTrue = operand.Kind == ValueKind.Bool;
        for (var e = 0; e < result.Length; e++)
        {
            var span = values.AsSpan(offsets[e], offsets[e + 1] - offsets[e]);
            result[e] = Reduction switch
            {
                Reduction.Count => countTrue ? CountNonZero(span) : span.Length,
                Reduction.Sum => Sum(span),
                Reduction.Max => span.IsEmpty ? double.NaN : Max(span),
                Reduction.Min => span.IsEmpty ? double.NaN : Min(span),
                Reduction.Any => CountNonZero(span) > 0 ? 1 : 0,
                _ => CountNonZero(span) == span.Length ? 1 : 0,
            };
        }

        return new Vec(result);
    }

    private static int CountNonZero(ReadOnlySpan<double> span)
    {
        var n = 0;
        foreach (var v in span)
        {
            n += v != 0 ? 1 : 0;
        }

        return n;
    }

    private static double Sum(ReadOnlySpan<double> span)
    {
        var s = 0.0;
        foreach (var v in span)
        {
            s += v;
        }

        return s;
    }

    private static double Max(ReadOnlySpan<double> span)
    {
        var m = span[0];
        foreach (var v in span)
        {
            m = Math.Max(m, v);
        }

        return m;
    }

    private static double Min(ReadOnlySpan<double> span)
    {
        var m = span[0];
        foreach (var v in span)
        {
            m = Math.Min(m, v);
        }

        return m;
    }
}

/// <summary><c>Jet_pt[Jet_pt &gt; 40]</c>: the objects the mask keeps, per event.</summary>
internal sealed class MaskExpr(Expr target, Expr mask, Shape shape) : Expr(shape, target.Kind)
{
    public Expr Target { get; } = target;

    public Expr Mask { get; } = mask;

    protected override Vec Compute(EvalContext context)
    {
        var values = Target.Evaluate(context);
        var keep = Mask.Evaluate(context);
        var offsets = values.Offsets!;
        if (keep.IsScalar || keep.Offsets is null)
        {
            keep = keep.BroadcastEvents(context.Events).BroadcastTo(offsets);
        }
        else if (!ReferenceEquals(keep.Offsets, offsets))
        {
            VecMath.EnsureSameLayout(offsets, keep.Offsets);
        }

        return Apply(values.Values, offsets, keep.Values);
    }

    public static Vec Apply(double[] values, int[] offsets, double[] keep)
    {
        var kept = new int[offsets.Length];
        var result = new List<double>(values.Length);
        for (var e = 0; e + 1 < offsets.Length; e++)
        {
            for (var i = offsets[e]; i < offsets[e + 1]; i++)
            {
                if (keep[i] != 0)
                {
                    result.Add(values[i]);
                }
            }

            kept[e + 1] = result.Count;
        }

        return new Vec([.. result], kept);
    }
}

/// <summary><c>Jet_pt[0]</c>: one object per event by position (negative counts from the end); NaN where there is none.</summary>
internal sealed class ElementExpr(Expr target, int index) : Expr(Shape.Event, target.Kind)
{
    protected override Vec Compute(EvalContext context)
    {
        var vec = target.Evaluate(context);
        var offsets = vec.Offsets!;
        var result = GC.AllocateUninitializedArray<double>(offsets.Length - 1);
        for (var e = 0; e < result.Length; e++)
        {
            var count = offsets[e + 1] - offsets[e];
            var at = index >= 0 ? index : count + index;
            result[e] = at >= 0 && at < count ? vec.Values[offsets[e] + at] : double.NaN;
        }

        return new Vec(result);
    }
}

/// <summary><c>x in Muon: body</c> or <c>a, b in Muon: body</c>: the body's value for each object or unordered pair.</summary>
internal sealed class ComprehensionExpr(string[] variables, string layoutColumn, Expr body, Shape shape) : Expr(shape, body.Kind)
{
    protected override Vec Compute(EvalContext context)
    {
        var objects = context.Column(layoutColumn).Offsets!;
        var scope = variables.Length == 1 ? Singles(objects) : Pairs(objects);
        var outer = context.Scope;
        context.Scope = scope;
        try
        {
            var value = body.Evaluate(context);
            return value.Offsets is not null ? value : value.BroadcastEvents(context.Events).BroadcastTo(scope.Offsets);
        }
        finally
        {
            context.Scope = outer;
        }
    }

    private ComprehensionScope Singles(int[] objects)
    {
        var index = new int[objects[^1]];
        for (var i = 0; i < index.Length; i++)
        {
            index[i] = i;
        }

        return new ComprehensionScope(variables, [index], objects);
    }

    /// <summary>Most pairs in one batch (two index arrays of this many ints): far above real events, far below the memory.</summary>
    public const int MaxPairs = 50_000_000;

    private ComprehensionScope Pairs(int[] objects)
    {
        var offsets = new int[objects.Length];
        for (var e = 0; e + 1 < objects.Length; e++)
        {
            long n = objects[e + 1] - objects[e];
            var total = offsets[e] + (n * (n - 1) / 2);
            if (total > MaxPairs)
            {
                throw new ColumnarDataException($"Event {e} of the batch brings the pairs of its collection over {MaxPairs:N0}; such a file cannot be read in pairs.");
            }

            offsets[e + 1] = (int)total;
        }

        var first = new int[offsets[^1]];
        var second = new int[offsets[^1]];
        var k = 0;
        for (var e = 0; e + 1 < objects.Length; e++)
        {
            for (var i = objects[e]; i < objects[e + 1]; i++)
            {
                for (var j = i + 1; j < objects[e + 1]; j++)
                {
                    first[k] = i;
                    second[k] = j;
                    k++;
                }
            }
        }

        return new ComprehensionScope(variables, [first, second], offsets);
    }
}

internal enum Kinematic
{
    Mass,
    Pt,
    DeltaR,
}

/// <summary><c>mass(a, b)</c>, <c>pt(a, b)</c>, <c>deltaR(a, b)</c> of objects in a comprehension, from their pt, eta, phi (and mass).</summary>
internal sealed class KinematicExpr(Kinematic what, string[] variables, string collection, Shape shape) : Expr(shape, ValueKind.Number)
{
    protected override Vec Compute(EvalContext context)
    {
        var scope = context.Scope!;
        var pt = context.Column(collection + "_pt").Values;
        var eta = context.Column(collection + "_eta").Values;
        var phi = context.Column(collection + "_phi").Values;
        var mass = what == Kinematic.DeltaR ? null : context.Column(collection + "_mass").Values;
        var indices = variables.Select(scope.IndexOf).ToArray();
        var result = GC.AllocateUninitializedArray<double>(indices[0].Length);
        if (what == Kinematic.DeltaR)
        {
            for (var c = 0; c < result.Length; c++)
            {
                int a = indices[0][c], b = indices[1][c];
                var dphi = Math.IEEERemainder(phi[a] - phi[b], 2 * Math.PI);
                var deta = eta[a] - eta[b];
                result[c] = Math.Sqrt((deta * deta) + (dphi * dphi));
            }

            return new Vec(result, scope.Offsets);
        }

        // Each object's four-vector once (the trigonometry), then a sum per combination.
        var objects = pt.Length;
        var px = GC.AllocateUninitializedArray<double>(objects);
        var py = GC.AllocateUninitializedArray<double>(objects);
        var pz = GC.AllocateUninitializedArray<double>(objects);
        var energy = GC.AllocateUninitializedArray<double>(objects);
        for (var i = 0; i < objects; i++)
        {
            px[i] = pt[i] * Math.Cos(phi[i]);
            py[i] = pt[i] * Math.Sin(phi[i]);
            pz[i] = pt[i] * Math.Sinh(eta[i]);
            energy[i] = Math.Sqrt((px[i] * px[i]) + (py[i] * py[i]) + (pz[i] * pz[i]) + (mass![i] * mass[i]));
        }

        for (var c = 0; c < result.Length; c++)
        {
            double x = 0, y = 0, z = 0, e = 0;
            foreach (var index in indices)
            {
                var i = index[c];
                x += px[i];
                y += py[i];
                z += pz[i];
                e += energy[i];
            }

            result[c] = what == Kinematic.Pt ? Math.Sqrt((x * x) + (y * y)) : Math.Sqrt(Math.Max(0, (e * e) - (x * x) - (y * y) - (z * z)));
        }

        return new Vec(result, scope.Offsets);
    }
}
