namespace Shoppe.Columnar.Selection;

/// <summary>A column of a dataset as the selection language sees it.</summary>
/// <param name="Name">The column's name.</param>
/// <param name="IsList">Per-object (a list per event) rather than per-event.</param>
/// <param name="IsBool">Booleans (true/false) rather than numbers.</param>
public sealed record ColumnInfo(string Name, bool IsList, bool IsBool)
{
    /// <summary>The collection of a per-object column: the part of its name before the first '_' (<c>Jet</c> of <c>Jet_pt</c>).</summary>
    public string Collection => Name.IndexOf('_', StringComparison.Ordinal) is > 0 and var i ? Name[..i] : Name;
}

/// <summary>
/// Binds a parsed expression to a dataset's columns: every name must exist, every operation must get the kinds
/// and shapes it works on, and every error says where. The result runs on batch after batch.
/// </summary>
internal sealed class Binder(IReadOnlyDictionary<string, ColumnInfo> columns, string text)
{
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);
    private int _masks;
    private int _comprehensions;
    private (string[] Variables, string Collection, Shape Shape)? _scope;

    /// <summary>Every column the bound expressions read.</summary>
    public IReadOnlySet<string> UsedColumns => _used;

    private readonly Dictionary<Node, Expr> _bound = new(ReferenceEqualityComparer.Instance);

    public Expr Bind(Node node)
    {
        if (_bound.TryGetValue(node, out var seen))
        {
            seen.Shared = true;
            return seen;
        }

        var expr = BindNew(node);
        _bound[node] = expr;
        return expr;
    }

    private Expr BindNew(Node node) => node switch
    {
        NumberNode n => new ConstantExpr(n.Value, ValueKind.Number),
        BoolNode b => new ConstantExpr(b.Value ? 1 : 0, ValueKind.Bool),
        ColumnNode c => BindColumn(c),
        MemberNode m => BindMember(m),
        UnaryNode u => BindUnary(u),
        BinaryNode b => BindBinary(b),
        CallNode c => BindCall(c),
        IndexNode i => BindIndex(i),
        ComprehensionNode c => throw Error(c, "a comprehension ('x in Muon: ...') goes inside any(), all(), count(), sum(), max() or min()"),
        _ => throw Error(node, "unsupported expression"),
    };

    private SelectionException Error(Node at, string reason, string? column = null) => new(reason, text, at.Position, column);

    private ColumnExpr BindColumn(ColumnNode node)
    {
        if (_scope is { } scope && scope.Variables.Contains(node.Name))
        {
            throw Error(node, $"'{node.Name}' is an object of {scope.Collection}; use one of its fields, such as {node.Name}.pt");
        }

        if (!columns.TryGetValue(node.Name, out var info))
        {
            throw Error(node, $"unknown column '{node.Name}'{Suggest(node.Name)}", node.Name);
        }

        if (_scope is not null && info.IsList)
        {
            throw Error(node, $"inside a comprehension, per-object columns are read through its variables ({_scope.Value.Variables[0]}.{FieldOf(info)})", node.Name);
        }

        _used.Add(info.Name);
        var shape = info.IsList ? new Shape(Level.Objects, info.Collection, info.Collection) : Shape.Event;
        return new ColumnExpr(info.Name, shape, info.IsBool ? ValueKind.Bool : ValueKind.Number);
    }

    private static string FieldOf(ColumnInfo info) => info.Name.Length > info.Collection.Length + 1 ? info.Name[(info.Collection.Length + 1)..] : info.Name;

    private string Suggest(string name)
    {
        var best = columns.Keys
            .Select(k => (Name: k, Distance: Distance(name, k)))
            .Where(c => c.Distance <= Math.Max(2, name.Length / 4))
            .OrderBy(c => c.Distance).ThenBy(c => c.Name, StringComparer.Ordinal)
            .FirstOrDefault();
        return best.Name is null ? "" : $"; did you mean '{best.Name}'?";
    }

    private static int Distance(string a, string b)
    {
        if (Math.Abs(a.Length - b.Length) > 3)
        {
            return int.MaxValue;
        }

        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = char.ToUpperInvariant(a[i - 1]) == char.ToUpperInvariant(b[j - 1]) ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }

    private MemberExpr BindMember(MemberNode node)
    {
        if (_scope is not { } scope || !scope.Variables.Contains(node.Variable))
        {
            throw Error(node, $"'{node.Variable}' is not a comprehension variable here; write the column, such as {node.Variable}_{node.Field}");
        }

        var name = scope.Collection + "_" + node.Field;
        if (!columns.TryGetValue(name, out var info) || !info.IsList)
        {
            throw Error(node, $"{scope.Collection} objects have no field '{node.Field}' (no per-object column {name}){Suggest(name)}", name);
        }

        _used.Add(name);
        return new MemberExpr(node.Variable, name, scope.Shape, info.IsBool ? ValueKind.Bool : ValueKind.Number);
    }

    private UnaryExpr BindUnary(UnaryNode node)
    {
        var operand = Bind(node.Operand);
        return node.Operator == "!"
            ? new UnaryExpr(VecMath.Unary<NotOp>, RequireBool(operand, node.Operand, "'!'"), ValueKind.Bool)
            : new UnaryExpr(VecMath.Unary<NegOp>, RequireNumber(operand, node.Operand, "'-'"), ValueKind.Number);
    }

    private Expr RequireBool(Expr expr, Node at, string what) =>
        expr.Kind == ValueKind.Bool ? expr : throw Error(at, $"{what} needs true/false values, but this is a number (compare it, e.g. x > 0)");

    private Expr RequireNumber(Expr expr, Node at, string what) =>
        expr.Kind == ValueKind.Number ? expr : throw Error(at, $"{what} needs numbers, but this is true/false");

    private BinaryExpr BindBinary(BinaryNode node)
    {
        var left = Bind(node.Left);
        var right = Bind(node.Right);
        var shape = Combine(left.Shape, right.Shape, node);
        switch (node.Operator)
        {
            case "&&" or "||":
                RequireBool(left, node.Left, $"'{node.Operator}'");
                RequireBool(right, node.Right, $"'{node.Operator}'");
                return new BinaryExpr(node.Operator == "&&" ? VecMath.Binary<AndOp> : VecMath.Binary<OrOp>, left, right, shape, ValueKind.Bool);
            case "==" or "!=":
                if (left.Kind != right.Kind)
                {
                    throw Error(node, $"'{node.Operator}' compares a number with true/false");
                }

                return new BinaryExpr(node.Operator == "==" ? VecMath.Binary<EqOp> : VecMath.Binary<NeOp>, left, right, shape, ValueKind.Bool);
            case "<" or "<=" or ">" or ">=":
                RequireNumber(left, node.Left, $"'{node.Operator}'");
                RequireNumber(right, node.Right, $"'{node.Operator}'");
                Func<Vec, Vec, Vec> compare = node.Operator switch
                {
                    "<" => VecMath.Binary<LtOp>,
                    "<=" => VecMath.Binary<LeOp>,
                    ">" => VecMath.Binary<GtOp>,
                    _ => VecMath.Binary<GeOp>,
                };
                return new BinaryExpr(compare, left, right, shape, ValueKind.Bool);
            default:
                RequireNumber(left, node.Left, $"'{node.Operator}'");
                RequireNumber(right, node.Right, $"'{node.Operator}'");
                Func<Vec, Vec, Vec> arithmetic = node.Operator switch
                {
                    "+" => VecMath.Binary<AddOp>,
                    "-" => VecMath.Binary<SubOp>,
                    "*" => VecMath.Binary<MulOp>,
                    "/" => VecMath.Binary<DivOp>,
                    "%" => VecMath.Binary<ModOp>,
                    _ => VecMath.Binary<PowOp>,
                };
                return new BinaryExpr(arithmetic, left, right, shape, ValueKind.Number);
        }
    }

    private Shape Combine(Shape a, Shape b, Node at)
    {
        if (a.IsJagged && b.IsJagged && a.Key != b.Key)
        {
            throw Error(at, $"one side has {a.Describe()}{Masked(a)} and the other {b.Describe()}{Masked(b)}: they do not line up object by object");
        }

        return a.Level >= b.Level ? a : b;
    }

    private static string Masked(Shape s) => s.Key != s.Collection && s.Level == Level.Objects ? " (after a mask)" : "";

    private static readonly Dictionary<string, Func<Vec, Vec>> MathFunctions = new(StringComparer.Ordinal)
    {
        ["abs"] = VecMath.Unary<AbsOp>,
        ["sqrt"] = VecMath.Unary<SqrtOp>,
        ["sin"] = VecMath.Unary<SinOp>,
        ["cos"] = VecMath.Unary<CosOp>,
        ["tan"] = VecMath.Unary<TanOp>,
        ["sinh"] = VecMath.Unary<SinhOp>,
        ["cosh"] = VecMath.Unary<CoshOp>,
        ["tanh"] = VecMath.Unary<TanhOp>,
        ["exp"] = VecMath.Unary<ExpOp>,
        ["log"] = VecMath.Unary<LogOp>,
        ["log10"] = VecMath.Unary<Log10Op>,
        ["atan"] = VecMath.Unary<AtanOp>,
    };

    private static readonly Dictionary<string, Reduction> Reductions = new(StringComparer.Ordinal)
    {
        ["count"] = Reduction.Count,
        ["sum"] = Reduction.Sum,
        ["max"] = Reduction.Max,
        ["min"] = Reduction.Min,
        ["any"] = Reduction.Any,
        ["all"] = Reduction.All,
    };

    /// <summary>Every function name, for the docs and for error messages.</summary>
    public static IEnumerable<string> FunctionNames =>
        MathFunctions.Keys.Concat(Reductions.Keys).Concat(["atan2", "mass", "pt", "deltaR"]).Order(StringComparer.Ordinal);

    private Expr BindCall(CallNode node)
    {
        var args = node.Arguments;
        if (MathFunctions.TryGetValue(node.Function, out var math))
        {
            Arity(node, 1);
            var operand = RequireNumber(Bind(args[0]), args[0], node.Function + "()");
            return new UnaryExpr(math, operand, ValueKind.Number);
        }

        if (Reductions.TryGetValue(node.Function, out var reduction))
        {
            if (args.Count == 2 && reduction is Reduction.Max or Reduction.Min)
            {
                // max(a, b) / min(a, b): element-wise, as in C.
                var a = RequireNumber(Bind(args[0]), args[0], node.Function + "()");
                var b = RequireNumber(Bind(args[1]), args[1], node.Function + "()");
                return new BinaryExpr(reduction == Reduction.Max ? VecMath.Binary<Max2Op> : VecMath.Binary<Min2Op>, a, b, Combine(a.Shape, b.Shape, node), ValueKind.Number);
            }

            Arity(node, 1);
            var operand = args[0] is ComprehensionNode c ? BindComprehension(c) : Bind(args[0]);
            if (!operand.Shape.IsJagged)
            {
                throw Error(args[0], $"{node.Function}() reduces a collection (such as {node.Function}(Jet_pt > 40)), but this has {operand.Shape.Describe()}");
            }

            if (reduction is Reduction.Any or Reduction.All)
            {
                RequireBool(operand, args[0], node.Function + "()");
            }
            else if (reduction is not Reduction.Count)
            {
                RequireNumber(operand, args[0], node.Function + "()");
            }

            return new ReduceExpr(reduction, operand);
        }

        switch (node.Function)
        {
            case "atan2":
            {
                Arity(node, 2);
                var y = RequireNumber(Bind(args[0]), args[0], "atan2()");
                var x = RequireNumber(Bind(args[1]), args[1], "atan2()");
                return new BinaryExpr(VecMath.Binary<Atan2Op>, y, x, Combine(y.Shape, x.Shape, node), ValueKind.Number);
            }

            case "mass" or "pt" or "deltaR":
                return BindKinematic(node);
            default:
                throw Error(node, $"unknown function '{node.Function}'; the functions are {string.Join(", ", FunctionNames)}");
        }
    }

    private void Arity(CallNode node, int count)
    {
        if (node.Arguments.Count != count)
        {
            throw Error(node, $"{node.Function}() takes {count} argument{(count == 1 ? "" : "s")}, not {node.Arguments.Count}");
        }
    }

    private KinematicExpr BindKinematic(CallNode node)
    {
        if (_scope is not { } scope)
        {
            throw Error(node, $"{node.Function}() works on the variables of a comprehension, such as any(a, b in Muon: {node.Function}(a, b) > 60)");
        }

        var names = node.Arguments.Select(a => a is ColumnNode c && scope.Variables.Contains(c.Name) ? c.Name : null).ToArray();
        var arityOk = node.Function == "deltaR" ? names.Length == 2 : names.Length is 1 or 2;
        if (!arityOk || names.Any(n => n is null))
        {
            throw Error(node, $"{node.Function}() takes the comprehension's variables ({string.Join(", ", scope.Variables)})");
        }

        var needed = node.Function == "deltaR" ? new[] { "pt", "eta", "phi" } : ["pt", "eta", "phi", "mass"];
        foreach (var field in needed)
        {
            var column = scope.Collection + "_" + field;
            if (!columns.TryGetValue(column, out var info) || !info.IsList)
            {
                throw Error(node, $"{node.Function}() needs the column {column}, which the dataset does not have", column);
            }

            _used.Add(column);
        }

        var what = node.Function switch { "mass" => Kinematic.Mass, "pt" => Kinematic.Pt, _ => Kinematic.DeltaR };
        return new KinematicExpr(what, names!, scope.Collection, scope.Shape);
    }

    private ComprehensionExpr BindComprehension(ComprehensionNode node)
    {
        if (_scope is not null)
        {
            throw Error(node, "comprehensions do not nest");
        }

        var layout = columns.Values
            .Where(c => c.IsList && c.Collection == node.Collection)
            .OrderBy(c => c.Name == node.Collection + "_pt" ? 0 : 1).ThenBy(c => c.Name, StringComparer.Ordinal)
            .FirstOrDefault()
            ?? throw Error(node, $"unknown collection '{node.Collection}' (no per-object column {node.Collection}_...)", node.Collection);
        _used.Add(layout.Name);
        var shape = new Shape(Level.Combinations, $"combinations#{++_comprehensions}", node.Collection);
        _scope = ([.. node.Variables], node.Collection, shape);
        try
        {
            var body = Bind(node.Body);
            return new ComprehensionExpr([.. node.Variables], layout.Name, body, shape);
        }
        finally
        {
            _scope = null;
        }
    }

    private Expr BindIndex(IndexNode node)
    {
        var target = Bind(node.Target);
        if (target.Shape.Level != Level.Objects)
        {
            throw Error(node, $"only per-object values can be masked or indexed; this has {target.Shape.Describe()}");
        }

        if (node.Index is NumberNode { IsInteger: true } n && Math.Abs(n.Value) < int.MaxValue)
        {
            return new ElementExpr(target, (int)n.Value);
        }

        var mask = Bind(node.Index);
        if (mask.Kind != ValueKind.Bool)
        {
            throw Error(node.Index, "a mask is a per-object true/false (Jet_pt > 40); an index is a whole number (Jet_pt[0])");
        }

        if (mask.Shape.IsJagged && mask.Shape.Key != target.Shape.Key)
        {
            throw Error(node.Index, $"the mask has {mask.Shape.Describe()}{Masked(mask.Shape)}, the values {target.Shape.Describe()}{Masked(target.Shape)}");
        }

        var shape = new Shape(Level.Objects, $"{target.Shape.Key}[mask#{++_masks}]", target.Shape.Collection);
        return new MaskExpr(target, mask, shape);
    }
}
