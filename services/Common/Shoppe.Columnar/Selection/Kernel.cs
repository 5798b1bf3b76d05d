using System.Linq.Expressions;
using System.Reflection;
using static System.Linq.Expressions.Expression;

namespace Shoppe.Columnar.Selection;

#pragma warning disable CA1859 // expression trees compose as Expression; narrower return types buy nothing here

/// <summary>What the kernel writes for one output column.</summary>
internal enum OutputKind
{
    /// <summary>One value per kept event, into <see cref="Frame.Values"/>.</summary>
    Event,

    /// <summary>Which objects a passed-through list column keeps, into <see cref="Frame.Keeps"/>.</summary>
    Keep,

    /// <summary>A computed value per kept object, into <see cref="Frame.Lists"/>.</summary>
    List,
}

/// <summary>An output the kernel computes: the bound expression, where it goes and the CLR type of its values.</summary>
internal sealed record KernelOutput(Bound Value, OutputKind Kind, int Slot)
{
    /// <summary>Set by the compiler: double, float, bool or long (a count).</summary>
    public Type ValueType { get; set; } = typeof(double);
}

/// <summary>
/// Compiles a query's filter and computed outputs into one method over a batch (<see cref="Frame"/>), through
/// System.Linq.Expressions: one loop over events; reductions, masks and comprehensions become loops over each
/// event's objects (combinations are nested loops, never stored); values are read in the columns' own types and
/// widened in registers; nothing is allocated per event or per operation.
/// Returns the number of kept events, whose indices it writes to <see cref="Frame.Rows"/>.
/// </summary>
internal sealed class KernelCompiler
{
    private static readonly MethodInfo MathMax = typeof(Math).GetMethod(nameof(Math.Max), [typeof(double), typeof(double)])!;
    private static readonly MethodInfo MathMin = typeof(Math).GetMethod(nameof(Math.Min), [typeof(double), typeof(double)])!;
    private static readonly MethodInfo FloatMax = typeof(Math).GetMethod(nameof(Math.Max), [typeof(float), typeof(float)])!;
    private static readonly MethodInfo FloatMin = typeof(Math).GetMethod(nameof(Math.Min), [typeof(float), typeof(float)])!;
    private static readonly MethodInfo IsNaN = typeof(double).GetMethod(nameof(double.IsNaN), [typeof(double)])!;

    private readonly Catalog _catalog;
    private readonly IReadOnlyDictionary<string, int> _columnSlots;
    private readonly ParameterExpression _frame = Parameter(typeof(Frame), "frame");
    private readonly ParameterExpression _event = Variable(typeof(int), "e");
    private readonly List<ParameterExpression> _locals = [];
    private readonly List<Expression> _prologue = [];
    private readonly Dictionary<string, ParameterExpression> _columns = new(StringComparer.Ordinal);
    private readonly Dictionary<int, (ParameterExpression Start, ParameterExpression Count)> _collections = [];
    private readonly Dictionary<int, ParameterExpression[]> _fourVectors = [];
    private readonly Dictionary<Variable, Expression> _positions = [];
    private readonly Dictionary<LetSlot, object> _lets = [];
    private readonly Stack<Scope> _scopes = new();
    private readonly Dictionary<string, ChoiceRef> _eventChoices = new(StringComparer.Ordinal);
    private readonly List<Expression> _eventResets = [];

    public KernelCompiler(Catalog catalog, IReadOnlyDictionary<string, int> columnSlots)
    {
        _catalog = catalog;
        _columnSlots = columnSlots;
    }

    /// <summary>Temporaries of one loop body (or of the event): shared values computed once in it.</summary>
    private sealed class Scope
    {
        public Dictionary<Bound, ParameterExpression> Shared { get; } = new(ReferenceEqualityComparer.Instance);

        public List<ParameterExpression> Locals { get; } = [];
    }

    /// <summary>An object: its source, its position in the event's objects of that source, and (from a choice) whether there is one.</summary>
    private sealed record ObjectRef(Source Source, Expression Position, Expression? Valid);

    /// <summary>A choice: the chosen positions and whether anything was chosen; <see cref="Setup"/> computes them where they are used.</summary>
    private sealed record ChoiceRef(Source Source, Expression[] Positions, Expression Found, Expression? Setup, IReadOnlyList<ParameterExpression> Variables);

    /// <summary>The columns the compiled kernel reads (others are only passed through, and need not be loaded).</summary>
    public IReadOnlyCollection<string> ColumnsRead => _columns.Keys;

    public Func<Frame, int> Compile(Bound? filter, IReadOnlyList<KernelOutput> outputs)
    {
        foreach (var collection in _catalog.Collections)
        {
            var start = Variable(typeof(int), collection.Name + "_start");
            var count = Variable(typeof(int), collection.Name + "_count");
            _locals.Add(start);
            _locals.Add(count);
            _collections[collection.Id] = (start, count);
        }

        var offsets = _catalog.Collections.ToDictionary(c => c.Id, c =>
        {
            var local = Variable(typeof(int[]), c.Name + "_offsets");
            _locals.Add(local);
            _prologue.Add(Assign(local, ArrayIndex(Field(_frame, nameof(Frame.Offsets)), Constant(c.Id))));
            return local;
        });

        var kept = Variable(typeof(int), "kept");
        var rows = Variable(typeof(int[]), "rows");
        var events = Variable(typeof(int), "events");
        _locals.AddRange([kept, rows, events, _event, _budget]);
        _prologue.Add(Assign(_budget, Constant(MaxCombinations)));
        _prologue.Add(Assign(rows, Field(_frame, nameof(Frame.Rows))));
        _prologue.Add(Assign(events, Field(_frame, nameof(Frame.Events))));

        var eventScope = new Scope();
        _scopes.Push(eventScope);
        var perEvent = new List<Expression>();
        foreach (var (id, (start, count)) in _collections)
        {
            perEvent.Add(Assign(start, ArrayIndex(offsets[id], _event)));
            perEvent.Add(Assign(count, Subtract(ArrayIndex(offsets[id], Add(_event, Constant(1))), start)));
        }

        var write = new List<Expression> { Assign(ArrayAccess(rows, kept), _event) };
        foreach (var output in outputs)
        {
            write.Add(EmitOutput(output, kept));
        }

        write.Add(PreIncrementAssign(kept));
        var keep = filter is null ? (Expression)Block(write) : IfThen(Truth(filter), Block(write));
        perEvent.AddRange(_eventResets);
        perEvent.Add(keep);
        _scopes.Pop();

        var done = Label("done");
        var loop = Block(
            Assign(kept, Constant(0)),
            Assign(_event, Constant(0)),
            Loop(
                IfThenElse(
                    LessThan(_event, events),
                    Block(eventScope.Locals, [.. perEvent, PreIncrementAssign(_event)]),
                    Break(done)),
                done));
        var body = Block(typeof(int), _locals, [.. _prologue, loop, kept]);
        return Lambda<Func<Frame, int>>(body, _frame).Compile();
    }

    private Expression EmitOutput(KernelOutput output, ParameterExpression kept)
    {
        switch (output.Kind)
        {
            case OutputKind.Event:
            {
                var value = Value(output.Value);
                var type = value.Type == typeof(bool) || value.Type == typeof(float) ? value.Type
                    : output.Value is ReduceBound { Reduction: Reduction.Count } ? typeof(long)
                    : typeof(double);
                output.ValueType = type;
                var array = Variable(type.MakeArrayType(), "out" + output.Slot);
                _locals.Add(array);
                _prologue.Add(Assign(array, Convert(ArrayIndex(Field(_frame, nameof(Frame.Values)), Constant(output.Slot)), array.Type)));
                return Assign(ArrayAccess(array, kept), value.Type == type ? value : Convert(value, type));
            }

            case OutputKind.Keep:
            {
                // Col[mask] of a column passed through: which of the event's objects it keeps.
                var mask = (MaskBound)output.Value;
                var keeps = Variable(typeof(byte[]), "keep" + output.Slot);
                _locals.Add(keeps);
                _prologue.Add(Assign(keeps, ArrayIndex(Field(_frame, nameof(Frame.Keeps)), Constant(output.Slot))));
                var variable = mask.Stream!.Variable;
                var collection = variable.Source.Collections[0];
                return Objects(variable, [], () =>
                    Assign(
                        ArrayAccess(keeps, Add(_collections[collection.Id].Start, _positions[variable])),
                        Condition(AllOf(mask.Stream.Filters), Constant((byte)1), Constant((byte)0))));
            }

            default:
            {
                var stream = output.Value.Stream!;
                Type? type = null;
                var add = Objects(stream.Variable, stream.Filters, () =>
                {
                    var value = Value(output.Value);
                    type ??= value.Type == typeof(bool) || value.Type == typeof(float) ? value.Type : typeof(double);
                    var builder = Variable(typeof(ListBuilder<>).MakeGenericType(type), "list" + output.Slot);
                    _locals.Add(builder);
                    _prologue.Add(Assign(builder, Convert(ArrayIndex(Field(_frame, nameof(Frame.Lists)), Constant(output.Slot)), builder.Type)));
                    return Call(builder, "Add", null, value.Type == type ? value : Convert(value, type));
                });
                output.ValueType = type ?? typeof(double);
                return Block(add, Call(ArrayIndex(Field(_frame, nameof(Frame.Lists)), Constant(output.Slot)), typeof(IListBuilder).GetMethod(nameof(IListBuilder.EndRow))!));
            }
        }
    }

    // ---- values -------------------------------------------------------------------------------------------------

    /// <summary>A number or true/false, in its natural type (a float column's value stays float until arithmetic widens it).</summary>
    private Expression Value(Bound bound)
    {
        if (!bound.Shared)
        {
            return ValueNew(bound);
        }

        var scope = _scopes.Peek();
        if (scope.Shared.TryGetValue(bound, out var local))
        {
            return local;
        }

        // The first use computes it: for a < m < b the left comparison (always evaluated first) holds it.
        var value = ValueNew(bound);
        local = Variable(value.Type, "shared");
        scope.Locals.Add(local);
        scope.Shared[bound] = local;
        return Assign(local, value);
    }

    private Expression Number(Bound bound) => Widen(Value(bound));

    private static Expression Widen(Expression value) => value.Type == typeof(double) ? value : Convert(value, typeof(double));

    private Expression Truth(Bound bound) => Value(bound);

    private Expression ValueNew(Bound bound) => bound switch
    {
        ConstantBound c => c.Kind == ValueKind.Bool ? Constant(c.Value != 0) : Constant(c.Value),
        EventColumnBound c => ArrayIndex(Column(c.Column.Name), _event),
        FieldBound f => Using(() => FieldValue(Object(f.Target), f.Columns)),
        KindBound k => Using(() => KindValue(Object(k.Target))),
        LetBound l => Let(l.Slot, () => Value(l.Body)),
        LetReferenceBound l => (Expression)_lets[l.Slot],
        UnaryBound u => Unary(u),
        BinaryBound b => Binary(b),
        ExtremumBound x => Extremum(x),
        ReduceBound r => Reduce(r),
        MaskBound m => Value(m.Target),
        ElementBound e => Element(e),
        KinematicBound k => Kinematics(k),
        SameObjectBound s => Using(() => s.Negated ? Not(SameObject(Object(s.Left), Object(s.Right))) : SameObject(Object(s.Left), Object(s.Right))),
        MembershipBound m => Membership(m),
        _ => throw new InvalidOperationException($"{bound.GetType().Name} has no value of its own"),
    };

    private ParameterExpression Column(string name)
    {
        if (!_columns.TryGetValue(name, out var local))
        {
            var type = _catalog.Columns[name].ValueType;
            local = Variable(type.MakeArrayType(), name);
            _locals.Add(local);
            _prologue.Add(Assign(local, Convert(ArrayIndex(Field(_frame, nameof(Frame.Columns)), Constant(_columnSlots[name])), local.Type)));
            _columns[name] = local;
        }

        return local;
    }

    private static Expression Missing(Type type) =>
        type == typeof(bool) ? Constant(false) : type == typeof(float) ? Constant(float.NaN) : Constant(double.NaN);

    private static Type Nullable(Type type) => type == typeof(bool) || type == typeof(float) ? type : typeof(double);

    /// <summary>A field of an object: the column of its collection (a union reads the column of the collection the position falls in).</summary>
    private Expression FieldValue(ObjectRef obj, IReadOnlyList<ColumnInfo> columns)
    {
        var collections = obj.Source.Collections;
        var types = columns.Select(c => c.ValueType).Distinct().ToArray();
        var common = types.Length == 1 ? types[0] : typeof(double);
        Expression Read(int i, Expression position)
        {
            var read = (Expression)ArrayIndex(Column(columns[i].Name), Add(_collections[collections[i].Id].Start, position));
            return read.Type == common ? read : Convert(read, common);
        }

        var value = InUnion(obj, Read, common);
        return Guard(obj.Valid, value);
    }

    /// <summary>Where a union's position falls: the value of the collection it is in (electrons first, then muons).</summary>
    private Expression InUnion(ObjectRef obj, Func<int, Expression, Expression> read, Type type)
    {
        var collections = obj.Source.Collections;
        if (collections.Count == 1)
        {
            return read(0, obj.Position);
        }

        var position = Variable(typeof(int), "u");
        Expression chain = read(collections.Count - 1, position);
        for (var i = collections.Count - 2; i >= 0; i--)
        {
            var count = _collections[collections[i].Id].Count;
            var inner = chain;
            chain = Condition(LessThan(position, count), read(i, position), Block(Assign(position, Subtract(position, count)), inner), type);
        }

        return Block(type, [position], Assign(position, obj.Position), chain);
    }

    private static Expression Guard(Expression? valid, Expression value) =>
        valid is null ? value : Condition(valid, Nullable(value.Type) == value.Type ? value : Convert(value, Nullable(value.Type)), Missing(value.Type));

    private Expression KindValue(ObjectRef obj) =>
        Guard(obj.Valid, InUnion(obj, (i, _) => Constant((double)i), typeof(double)));

    private Expression Unary(UnaryBound u)
    {
        if (u.Operator == Operator.Not)
        {
            return Not(Truth(u.Operand));
        }

        // abs and minus of a float are exact in float: abs(Jet_eta) < 1 compares floats, with no widening.
        var operand = Value(u.Operand);
        var exact = operand.Type == typeof(float) || operand.Type == typeof(double) ? operand : Widen(operand);
        return u.Operator switch
        {
            Operator.Negate => Negate(exact),
            Operator.Abs => Call(typeof(Math), nameof(Math.Abs), null, exact),
            _ => Call(typeof(Math), u.Operator.ToString(), null, Widen(operand)),
        };
    }

    private Expression Binary(BinaryBound b)
    {
        switch (b.Operator)
        {
            case Operator.And:
                return AndAlso(Truth(b.Left), Truth(b.Right));
            case Operator.Or:
                return OrElse(Truth(b.Left), Truth(b.Right));
            case Operator.Less or Operator.LessOrEqual or Operator.Greater or Operator.GreaterOrEqual or Operator.Equal or Operator.NotEqual:
            {
                var (left, right) = Comparable(Value(b.Left), Value(b.Right));
                return b.Operator switch
                {
                    Operator.Less => LessThan(left, right),
                    Operator.LessOrEqual => LessThanOrEqual(left, right),
                    Operator.Greater => GreaterThan(left, right),
                    Operator.GreaterOrEqual => GreaterThanOrEqual(left, right),
                    Operator.Equal => Equal(left, right),
                    _ => NotEqual(left, right),
                };
            }

            default:
            {
                var (left, right) = (Number(b.Left), Number(b.Right));
                return b.Operator switch
                {
                    Operator.Add => Add(left, right),
                    Operator.Subtract => Subtract(left, right),
                    Operator.Multiply => Multiply(left, right),
                    Operator.Divide => Divide(left, right),
                    Operator.Modulo => Modulo(left, right),
                    Operator.Power => Call(typeof(Math), nameof(Math.Pow), null, left, right),
                    Operator.Atan2 => Call(typeof(Math), nameof(Math.Atan2), null, left, right),
                    _ => throw new InvalidOperationException(b.Operator.ToString()),
                };
            }
        }
    }

    /// <summary>
    /// Two sides of a comparison in one type: float against float (or a constant a float holds exactly) stays
    /// float, true/false stays bool, anything else compares as double.
    /// </summary>
    private static (Expression Left, Expression Right) Comparable(Expression left, Expression right)
    {
        if (left.Type == typeof(bool))
        {
            return (left, right);
        }

        static Expression? AsFloat(Expression e) => e.Type == typeof(float) ? e
            : e is ConstantExpression { Value: double d } && (double)(float)d == d ? Constant((float)d) : null;

        if ((left.Type == typeof(float) || right.Type == typeof(float)) && AsFloat(left) is { } l && AsFloat(right) is { } r)
        {
            return (l, r);
        }

        return (Widen(left), Widen(right));
    }

    private Expression Extremum(ExtremumBound x)
    {
        var values = x.Arguments.Select(Value).ToArray();
        var floats = values.All(v => v.Type == typeof(float));
        var method = floats ? (x.IsMax ? FloatMax : FloatMin) : (x.IsMax ? MathMax : MathMin);
        var result = floats ? values[0] : Widen(values[0]);
        foreach (var value in values.Skip(1))
        {
            result = Call(method, result, floats ? value : Widen(value));
        }

        return result;
    }

    // ---- loops --------------------------------------------------------------------------------------------------

    private Expression Count(Source source)
    {
        Expression count = _collections[source.Collections[0].Id].Count;
        foreach (var collection in source.Collections.Skip(1))
        {
            count = Add(count, _collections[collection.Id].Count);
        }

        return count;
    }

    /// <summary>The objects a variable runs over in this event, those passing <paramref name="filters"/>, each running <paramref name="body"/>.</summary>
    private Expression Objects(Variable variable, IReadOnlyList<Bound> filters, Func<Expression> body, LabelTarget? exit = null) =>
        Combinations([variable], variable.Source, filters, body, exit);

    /// <summary>
    /// Every combination of distinct objects of <paramref name="source"/> (i &lt; j &lt; k), as nested loops; the
    /// body runs for those passing <paramref name="conditions"/>. A jump to <paramref name="exit"/> leaves them all.
    /// </summary>
    private Expression Combinations(IReadOnlyList<Variable> variables, Source source, IReadOnlyList<Bound> conditions, Func<Expression> body, LabelTarget? exit)
    {
        var count = Variable(typeof(int), "n");
        var positions = variables.Select(v => Variable(typeof(int), v.Name.TrimStart('$'))).ToArray();
        var saved = variables.Select(v => _positions.GetValueOrDefault(v)).ToArray();
        for (var i = 0; i < variables.Count; i++)
        {
            _positions[variables[i]] = positions[i];
        }

        Expression inner;
        var scope = new Scope();
        var nest = new Nest(positions, source);
        _scopes.Push(scope);
        _nests.Push(nest);
        try
        {
            // Conditions first: they run first, so a value shared with the body is computed by them.
            var test = conditions.Count == 0 ? null : AllOf(conditions);
            var run = body();
            inner = test is null ? run : IfThen(test, run);
            inner = Block(typeof(void), scope.Locals, inner);
        }
        finally
        {
            _nests.Pop();
            _scopes.Pop();
            for (var i = 0; i < variables.Count; i++)
            {
                if (saved[i] is null)
                {
                    _positions.Remove(variables[i]);
                }
                else
                {
                    _positions[variables[i]] = saved[i]!;
                }
            }
        }

        for (var i = variables.Count - 1; i >= 0; i--)
        {
            var next = Label("next");
            var from = i == 0 ? (Expression)Constant(0) : Add(positions[i - 1], Constant(1));
            // The inner loops end while there are objects left for the outer ones: i < n - (k - 1 - depth).
            var limit = variables.Count - 1 - i == 0 ? (Expression)count : Subtract(count, Constant(variables.Count - 1 - i));
            inner = Block(
                Assign(positions[i], from),
                Loop(IfThenElse(LessThan(positions[i], limit), Block([.. nest.Hooks[i], inner, PreIncrementAssign(positions[i])]), Break(next)), next));
        }

        var all = new List<Expression> { Assign(count, Count(source)) };
        if (variables.Count > 1)
        {
            // Combinations grow as n^k / k!: a batch may enumerate at most MaxCombinations of them, counted as
            // each comprehension starts, so that no selection holds a worker for hours.
            all.Add(SubtractAssign(_budget, Call(typeof(KernelCompiler), nameof(Choose), null, count, Constant(variables.Count))));
            all.Add(IfThen(LessThan(_budget, Constant(0.0)), Throw(Call(typeof(KernelCompiler), nameof(TooMany), null, _event, count, Constant(variables.Count), Constant(source.Name)))));
        }

        all.Add(inner);
        if (exit is not null)
        {
            all.Add(Label(exit));
        }

        return Block(typeof(void), [count, .. positions, .. nest.Partials.Values.SelectMany(p => p)], all);
    }

    /// <summary>
    /// The loops of one comprehension while its body is emitted: what runs at the start of each loop's body
    /// (<see cref="Hooks"/>), and the four-vector sums of its first variables kept there (<see cref="Partials"/>),
    /// so that mass(a, b, c) adds one vector per triple, not three.
    /// </summary>
    private sealed class Nest(ParameterExpression[] positions, Source source)
    {
        public ParameterExpression[] Positions { get; } = positions;

        public Source Source { get; } = source;

        public List<Expression>[] Hooks { get; } = positions.Select(_ => new List<Expression>()).ToArray();

        public Dictionary<int, ParameterExpression[]> Partials { get; } = [];
    }

    private readonly Stack<Nest> _nests = new();

    /// <summary>Most combinations one batch may enumerate (ADL 6 needs some 6 million per 100 000 events).</summary>
    public const double MaxCombinations = 1e9;

    private readonly ParameterExpression _budget = Variable(typeof(double), "budget");

    /// <summary>n choose k, as a double (it can pass any integer type).</summary>
    public static double Choose(int n, int k)
    {
        var result = 1.0;
        for (var i = 0; i < k; i++)
        {
            result *= (double)(n - i) / (i + 1);
        }

        return Math.Max(0, result);
    }

    public static ColumnarDataException TooMany(int @event, int objects, int k, string source) =>
        new(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"The selection enumerates more than {MaxCombinations:N0} combinations in one batch: event {@event} of the batch alone has {objects:N0} {source} objects, {Choose(objects, k):N0} combinations of {k}. Narrow it with fewer variables or a smaller collection."));

    /// <summary>The four-vector sum (px, py, pz, E) of the nest's first <paramref name="count"/> objects, computed in the loop of the last of them.</summary>
    private ParameterExpression[] Partial(Nest nest, int count)
    {
        if (nest.Partials.TryGetValue(count, out var known))
        {
            return known;
        }

        var outer = count > 1 ? Partial(nest, count - 1) : null;
        var sums = new ParameterExpression[4];
        var obj = new ObjectRef(nest.Source, nest.Positions[count - 1], null);
        for (var c = 0; c < 4; c++)
        {
            sums[c] = Variable(typeof(double), $"partial{count}_{c}");
            var component = FourVectorOf(obj, c);
            nest.Hooks[count - 1].Add(Assign(sums[c], outer is null ? component : Add(outer[c], component)));
        }

        nest.Partials[count] = sums;
        return sums;
    }

    private Expression AllOf(IReadOnlyList<Bound> conditions)
    {
        var test = Truth(conditions[0]);
        foreach (var condition in conditions.Skip(1))
        {
            test = AndAlso(test, Truth(condition));
        }

        return test;
    }

    /// <summary>The loop a reduction runs: over a comprehension's combinations, or over a per-object value's stream.</summary>
    private Expression Over(Bound operand, Func<Expression> body, LabelTarget? exit)
    {
        if (operand is ComprehensionBound c)
        {
            var conditions = c.Where is null ? Array.Empty<Bound>() : [c.Where];
            return Combinations(c.Variables, c.Source, conditions, body, exit);
        }

        var stream = operand.Stream!;
        return Objects(stream.Variable, stream.Filters, body, exit);
    }

    private static Bound? BodyOf(Bound operand) => operand is ComprehensionBound c ? c.Body : operand;

    private Expression Reduce(ReduceBound r)
    {
        var exit = Label("exit");
        var body = BodyOf(r.Operand);
        switch (r.Reduction)
        {
            case Reduction.Count:
            {
                var n = Variable(typeof(int), "count");
                var loop = Over(r.Operand, () => body is null || body.Kind != ValueKind.Bool ? PreIncrementAssign(n) : IfThen(Truth(body), PreIncrementAssign(n)), null);
                return Block(typeof(int), [n], Assign(n, Constant(0)), loop, n);
            }

            case Reduction.Sum:
            {
                var sum = Variable(typeof(double), "sum");
                var loop = Over(r.Operand, () => AddAssign(sum, Number(body!)), null);
                return Block(typeof(double), [sum], Assign(sum, Constant(0.0)), loop, sum);
            }

            case Reduction.Max or Reduction.Min:
            {
                ParameterExpression? best = null;
                var seen = Variable(typeof(bool), "seen");
                var loop = Over(r.Operand, () =>
                {
                    var value = Value(body!);
                    var type = value.Type == typeof(float) ? typeof(float) : typeof(double);
                    best = Variable(type, "best");
                    var method = type == typeof(float) ? (r.Reduction == Reduction.Max ? FloatMax : FloatMin) : (r.Reduction == Reduction.Max ? MathMax : MathMin);
                    var current = Variable(type, "value");
                    return Block(
                        typeof(void),
                        [current],
                        Assign(current, type == value.Type ? value : Convert(value, type)),
                        Assign(best, Condition(seen, Call(method, best, current), current)),
                        Assign(seen, Constant(true)));
                }, null);
                return Block(best!.Type, [best, seen], Assign(seen, Constant(false)), Assign(best, Missing(best.Type)), loop, best);
            }

            case Reduction.Any or Reduction.All:
            {
                var any = r.Reduction == Reduction.Any;
                var result = Variable(typeof(bool), any ? "any" : "all");
                var loop = Over(r.Operand, () =>
                {
                    var test = body is null ? Constant(true) : Truth(body);
                    return IfThen(any ? test : Not(test), Block(Assign(result, Constant(any)), Goto(exit)));
                }, exit);
                return Block(typeof(bool), [result], Assign(result, Constant(!any)), loop, result);
            }

            default:
                throw new InvalidOperationException("argmin/argmax give a choice, not a value");
        }
    }

    private Expression Element(ElementBound e)
    {
        var stream = e.Target.Stream!;
        var variable = stream.Variable;
        var collection = variable.Source.Collections[0];
        var count = _collections[collection.Id].Count;
        var position = Variable(typeof(int), "i");
        var seen = Variable(typeof(int), "seen");
        var done = Label("found");
        var scope = new Scope();
        _scopes.Push(scope);
        var saved = _positions.GetValueOrDefault(variable);
        _positions[variable] = position;
        Expression value;
        Expression test;
        try
        {
            test = stream.Filters.Count == 0 ? Constant(true) : AllOf(stream.Filters);
            value = Value(e.Target);
        }
        finally
        {
            _scopes.Pop();
            if (saved is null)
            {
                _positions.Remove(variable);
            }
            else
            {
                _positions[variable] = saved;
            }
        }

        var type = Nullable(value.Type);
        var result = Variable(type, "element");
        var wanted = e.Index >= 0 ? e.Index : -e.Index - 1;
        // Forwards for a position from the start, backwards for one from the end; the n-th object the masks keep.
        var step = e.Index >= 0 ? PreIncrementAssign(position) : PreDecrementAssign(position);
        var inRange = e.Index >= 0 ? LessThan(position, count) : GreaterThanOrEqual(position, Constant(0));
        var body = Block(
            typeof(void),
            scope.Locals,
            IfThen(test, Block(IfThen(Equal(seen, Constant(wanted)), Block(Assign(result, value.Type == type ? value : Convert(value, type)), Break(done))), PreIncrementAssign(seen))),
            step);
        return Block(
            type,
            [position, seen, result],
            Assign(result, Missing(type)),
            Assign(seen, Constant(0)),
            Assign(position, e.Index >= 0 ? Constant(0) : Subtract(count, Constant(1))),
            Loop(IfThenElse(inRange, body, Break(done)), done),
            result);
    }

    // ---- objects and choices ------------------------------------------------------------------------------------

    /// <summary>Wraps <paramref name="use"/> in what computes the objects and choices it reads.</summary>
    private static Expression With(IEnumerable<(Expression? Setup, IReadOnlyList<ParameterExpression> Variables)> needs, Expression use)
    {
        var setups = needs.Where(n => n.Setup is not null).ToArray();
        if (setups.Length == 0)
        {
            return use;
        }

        return Block(use.Type, setups.SelectMany(s => s.Variables), [.. setups.Select(s => s.Setup!), use]);
    }

    private readonly List<(Expression? Setup, IReadOnlyList<ParameterExpression> Variables)> _pending = [];

    private ObjectRef Object(Bound bound)
    {
        switch (bound)
        {
            case VariableBound v:
                return new ObjectRef(v.Variable.Source, _positions[v.Variable], null);
            case ChoiceObjectBound c:
            {
                var choice = Choice(c.Choice);
                return new ObjectRef(choice.Source, choice.Positions[c.Variable], choice.Found);
            }

            case LetReferenceBound l:
                return (ObjectRef)_lets[l.Slot];
            default:
                throw new InvalidOperationException($"{bound.GetType().Name} is not an object");
        }
    }

    /// <summary>
    /// A choice's positions. A choice by argmin/argmax is computed where it is used: its loop goes into
    /// <see cref="_pending"/>, which the user of the value (a field, a kinematic function) wraps itself in.
    /// </summary>
    private ChoiceRef Choice(Bound bound)
    {
        if (bound is LetReferenceBound l)
        {
            return (ChoiceRef)_lets[l.Slot];
        }

        var r = (ReduceBound)bound;
        var comprehension = (ComprehensionBound)r.Operand;
        if (r.EventKey is { } key && _eventChoices.TryGetValue(key, out var earlier))
        {
            _pending.Add((earlier.Setup, []));
            return earlier with { Setup = null };
        }

        var positions = comprehension.Variables.Select(v => Variable(typeof(int), "chosen_" + v.Name)).ToArray();
        var found = Variable(typeof(bool), "found");
        var best = Variable(typeof(double), "best");
        var loop = Combinations(comprehension.Variables, comprehension.Source, comprehension.Where is null ? [] : [comprehension.Where], () =>
        {
            var key = Variable(typeof(double), "key");
            var better = r.Reduction == Reduction.ArgMin ? LessThan(key, best) : GreaterThan(key, best);
            return Block(
                typeof(void),
                [key],
                Assign(key, Number(comprehension.Body!)),
                IfThen(
                    AndAlso(Not(Call(IsNaN, key)), OrElse(Not(found), better)),
                    Block([Assign(found, Constant(true)), Assign(best, key), .. comprehension.Variables.Select((v, i) => Assign(positions[i], _positions[v]))])));
        }, null);
        var setup = Block(typeof(void), [Assign(found, Constant(false)), Assign(best, Constant(0.0)), .. positions.Select(p => Assign(p, Constant(-1))), loop]);
        if (r.EventKey is not null)
        {
            // Made at its first use in the event, then read: its variables live for the whole kernel, and a flag
            // (cleared as each event starts) says whether this event's choice is made.
            var made = Variable(typeof(bool), "made");
            _locals.AddRange([.. positions, found, best, made]);
            _eventResets.Add(Assign(made, Constant(false)));
            var once = IfThen(Not(made), Block(setup, Assign(made, Constant(true))));
            var shared = new ChoiceRef(comprehension.Source, positions, found, once, []);
            _eventChoices[r.EventKey] = shared;
            _pending.Add((once, []));
            return shared with { Setup = null };
        }

        var choice = new ChoiceRef(comprehension.Source, positions, found, setup, [.. positions, found, best]);
        _pending.Add((choice.Setup, choice.Variables));
        return choice with { Setup = null };
    }

    /// <summary>Emits <paramref name="use"/>, wrapped in the loops of the choices it computed on the way.</summary>
    private Expression Using(Func<Expression> use)
    {
        var mark = _pending.Count;
        var value = use();
        var needs = _pending.Skip(mark).ToArray();
        _pending.RemoveRange(mark, _pending.Count - mark);
        return With(needs, value);
    }

    private Expression Let(LetSlot slot, Func<Expression> body)
    {
        switch (slot.Value.Kind)
        {
            case ValueKind.Number or ValueKind.Bool:
            {
                var value = Value(slot.Value);
                var local = Variable(value.Type, slot.Name);
                _lets[slot] = local;
                var result = body();
                return Block(result.Type, [local], Assign(local, value), result);
            }

            case ValueKind.Object:
            {
                var mark = _pending.Count;
                var obj = Object(slot.Value);
                var position = Variable(typeof(int), slot.Name);
                var valid = Variable(typeof(bool), slot.Name + "_valid");
                _lets[slot] = new ObjectRef(obj.Source, position, obj.Valid is null ? null : valid);
                var needs = _pending.Skip(mark).ToArray();
                _pending.RemoveRange(mark, _pending.Count - mark);
                var result = body();
                return Block(
                    result.Type,
                    [position, valid, .. needs.SelectMany(n => n.Variables)],
                    [.. needs.Select(n => n.Setup!), Assign(position, obj.Position), Assign(valid, obj.Valid ?? Constant(true)), result]);
            }

            default:
            {
                var mark = _pending.Count;
                var choice = Choice(slot.Value);
                _lets[slot] = choice;
                var needs = _pending.Skip(mark).ToArray();
                _pending.RemoveRange(mark, _pending.Count - mark);
                var result = body();
                return Block(result.Type, needs.SelectMany(n => n.Variables), [.. needs.Select(n => n.Setup!), result]);
            }
        }
    }

    /// <summary>Which collection an object is of (its number in the query) and its position among that collection's objects.</summary>
    private (Expression Collection, Expression Index) Identity(ObjectRef obj)
    {
        var collections = obj.Source.Collections;
        if (collections.Count == 1)
        {
            return (Constant(collections[0].Id), obj.Position);
        }

        var collection = InUnion(obj, (i, _) => Constant(collections[i].Id), typeof(int));
        var index = InUnion(obj, (_, p) => p, typeof(int));
        return (collection, index);
    }

    private Expression SameObject(ObjectRef a, ObjectRef b)
    {
        Expression same;
        if (a.Source.Collections.SequenceEqual(b.Source.Collections))
        {
            // The same collections in the same order (two comprehensions over Electron + Muon): positions compare.
            same = Equal(a.Position, b.Position);
        }
        else
        {
            var (ca, ia) = Identity(a);
            var (cb, ib) = Identity(b);
            same = AndAlso(Equal(ca, cb), Equal(ia, ib));
        }

        foreach (var valid in new[] { a.Valid, b.Valid })
        {
            if (valid is not null)
            {
                same = AndAlso(valid, same);
            }
        }

        return same;
    }

    private Expression Membership(MembershipBound m) => Using(() =>
    {
        var item = Object(m.Item);
        var choice = Choice(m.Choice);
        Expression? any = null;
        foreach (var position in choice.Positions)
        {
            var one = SameObject(item, new ObjectRef(choice.Source, position, choice.Found));
            any = any is null ? one : OrElse(any, one);
        }

        return m.Negated ? Not(any!) : any!;
    });

    // ---- kinematics ---------------------------------------------------------------------------------------------

    /// <summary>One object (or an event's own vector, <see cref="Prefix"/>) in a kinematic function.</summary>
    private sealed record Atom(ObjectRef? Object, string? Prefix);

    private Expression Kinematics(KinematicBound k) => Using(() =>
    {
        var terms = k.Terms.Select(Atoms).ToArray();
        var valid = terms.SelectMany(t => t).Select(a => a.Object?.Valid).Where(v => v is not null).Distinct().Aggregate((Expression?)null, (all, v) => all is null ? v : AndAlso(all, v!));
        Expression value;
        switch (k.What)
        {
            case Kinematic.DeltaR:
            {
                var (eta1, phi1) = EtaPhi(terms[0]);
                var (eta2, phi2) = EtaPhi(terms[1]);
                // Δφ wrapped to [-π, π]: the IEEE remainder by 2π, as x - 2π·round(x / 2π) (one instruction
                // to round; Math.IEEERemainder is a library call, and the same value for differences of angles).
                var difference = Variable(typeof(double), "dphi");
                var dphi = Block(
                    typeof(double),
                    [difference],
                    Assign(difference, Subtract(phi1, phi2)),
                    Subtract(difference, Multiply(Constant(2 * Math.PI), Call(typeof(Math), nameof(Math.Round), null, Divide(difference, Constant(2 * Math.PI))))));
                var deta = Subtract(eta1, eta2);
                value = Hypot(deta, dphi);
                break;
            }

            case Kinematic.Mt:
            {
                var (pt1, phi1) = PtPhi(terms[0]);
                var (pt2, phi2) = PtPhi(terms[1]);
                var cos = Call(typeof(Math), nameof(Math.Cos), null, Subtract(phi1, phi2));
                value = Call(typeof(Math), nameof(Math.Sqrt), null, Multiply(Multiply(Multiply(Constant(2.0), pt1), pt2), Subtract(Constant(1.0), cos)));
                break;
            }

            default:
            {
                var atoms = terms.SelectMany(t => t).ToArray();
                if (atoms.Length == 1)
                {
                    value = Widen(AtomField(atoms[0], k.What.ToString().ToLowerInvariant()));
                    break;
                }

                value = Sum(atoms, k.What);
                break;
            }
        }

        return valid is null ? value : Condition(valid, value, Constant(double.NaN));
    });

    private IReadOnlyList<Atom> Atoms(Bound term) => term switch
    {
        EventVectorBound v => [new Atom(null, v.Prefix)],
        { Kind: ValueKind.Choice } => Choice(term) is var c ? c.Positions.Select(p => new Atom(new ObjectRef(c.Source, p, c.Found), null)).ToArray() : [],
        _ => [new Atom(Object(term), null)],
    };

    private Expression AtomField(Atom atom, string field)
    {
        if (atom.Prefix is not null)
        {
            return ArrayIndex(Column(atom.Prefix + "_" + field), _event);
        }

        var obj = atom.Object! with { Valid = null }; // validity is checked once for the whole value
        return FieldValue(obj, obj.Source.Collections.Select(c => _catalog.Columns[c.Name + "_" + field]).ToArray());
    }

    private (Expression Eta, Expression Phi) EtaPhi(IReadOnlyList<Atom> atoms)
    {
        if (atoms.Count == 1)
        {
            return (Widen(AtomField(atoms[0], "eta")), Widen(AtomField(atoms[0], "phi")));
        }

        return (Sum(atoms, Kinematic.Eta), Sum(atoms, Kinematic.Phi));
    }

    private (Expression Pt, Expression Phi) PtPhi(IReadOnlyList<Atom> atoms)
    {
        if (atoms.Count == 1)
        {
            return (Widen(AtomField(atoms[0], "pt")), Widen(AtomField(atoms[0], "phi")));
        }

        return (Sum(atoms, Kinematic.Pt), Sum(atoms, Kinematic.Phi));
    }

    private static Expression Hypot(Expression x, Expression y)
    {
        var a = Variable(typeof(double), "x");
        var b = Variable(typeof(double), "y");
        return Block(typeof(double), [a, b], Assign(a, x), Assign(b, y), Call(typeof(Math), nameof(Math.Sqrt), null, Add(Multiply(a, a), Multiply(b, b))));
    }

    /// <summary>A property of the four-vector sum of the atoms: objects from the batch's four-vectors, an event's vector from its columns.</summary>
    private Expression Sum(IReadOnlyList<Atom> atoms, Kinematic what)
    {
        var x = Variable(typeof(double), "px");
        var y = Variable(typeof(double), "py");
        var z = Variable(typeof(double), "pz");
        var e = Variable(typeof(double), "energy");
        var sums = new List<Expression> { Assign(x, Constant(0.0)), Assign(y, Constant(0.0)), Assign(z, Constant(0.0)), Assign(e, Constant(0.0)) };
        var components = new[] { x, y, z, e };
        if (_nests.Count > 0 && _nests.Peek() is var nest && atoms.Count >= 2 && atoms.Count <= nest.Positions.Length
            && atoms.Select((a, i) => a.Object is { Valid: null } o && o.Source == nest.Source && o.Position == nest.Positions[i]).All(m => m))
        {
            // The objects are the comprehension's first variables, in order: their first ones are summed already.
            var partial = Partial(nest, atoms.Count - 1);
            for (var c = 0; c < 4; c++)
            {
                sums.Add(Assign(components[c], partial[c]));
            }

            atoms = [atoms[^1]];
        }

        foreach (var atom in atoms)
        {
            if (atom.Prefix is { } prefix)
            {
                var pt = Variable(typeof(double), "pt");
                var phi = Variable(typeof(double), "phi");
                var vector = new List<Expression>
                {
                    Assign(pt, Widen(ArrayIndex(Column(prefix + "_pt"), _event))),
                    Assign(phi, Widen(ArrayIndex(Column(prefix + "_phi"), _event))),
                    AddAssign(x, Multiply(pt, Call(typeof(Math), nameof(Math.Cos), null, phi))),
                    AddAssign(y, Multiply(pt, Call(typeof(Math), nameof(Math.Sin), null, phi))),
                };
                if (what is Kinematic.Mass or Kinematic.Eta)
                {
                    var pz = Multiply(pt, Call(typeof(Math), nameof(Math.Sinh), null, Widen(ArrayIndex(Column(prefix + "_eta"), _event))));
                    var m = Widen(ArrayIndex(Column(prefix + "_mass"), _event));
                    var pzLocal = Variable(typeof(double), "z");
                    vector.Add(Block(
                        [pzLocal],
                        Assign(pzLocal, pz),
                        AddAssign(z, pzLocal),
                        AddAssign(e, Call(typeof(Math), nameof(Math.Sqrt), null, Add(Add(Multiply(pt, pt), Multiply(pzLocal, pzLocal)), Multiply(m, m))))));
                }

                sums.Add(Block([pt, phi], vector));
                continue;
            }

            var obj = atom.Object! with { Valid = null };
            for (var c = 0; c < 4; c++)
            {
                sums.Add(AddAssign(components[c], FourVectorOf(obj, c)));
            }
        }

        Expression result = what switch
        {
            Kinematic.Mass => Call(typeof(Math), nameof(Math.Sqrt), null, Call(MathMax, Constant(0.0), Subtract(Subtract(Subtract(Multiply(e, e), Multiply(x, x)), Multiply(y, y)), Multiply(z, z)))),
            Kinematic.Pt => Call(typeof(Math), nameof(Math.Sqrt), null, Add(Multiply(x, x), Multiply(y, y))),
            Kinematic.Eta => Call(typeof(Math), nameof(Math.Asinh), null, Divide(z, Call(typeof(Math), nameof(Math.Sqrt), null, Add(Multiply(x, x), Multiply(y, y))))),
            _ => Call(typeof(Math), nameof(Math.Atan2), null, y, x),
        };
        sums.Add(result);
        return Block(typeof(double), [x, y, z, e], sums);
    }

    /// <summary>One component (px, py, pz, E) of an object's four-vector, from the batch's four-vectors.</summary>
    private Expression FourVectorOf(ObjectRef obj, int component) =>
        InUnion(obj, (i, p) => ArrayIndex(FourVector(obj.Source.Collections[i], component), Add(_collections[obj.Source.Collections[i].Id].Start, p)), typeof(double));

    private ParameterExpression FourVector(Collection collection, int component)
    {
        if (!_fourVectors.TryGetValue(collection.Id, out var locals))
        {
            locals = new ParameterExpression[4];
            string[] names = ["px", "py", "pz", "e"];
            for (var c = 0; c < 4; c++)
            {
                locals[c] = Variable(typeof(double[]), $"{collection.Name}_{names[c]}");
                _locals.Add(locals[c]);
                _prologue.Add(Assign(locals[c], ArrayIndex(Field(_frame, nameof(Frame.FourVectors)), Constant((collection.Id * 4) + c))));
            }

            _fourVectors[collection.Id] = locals;
        }

        return locals[component];
    }
}
