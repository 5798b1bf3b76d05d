using System.Linq.Expressions;
using static System.Linq.Expressions.Expression;

namespace Shoppe.Columnar.Selection;

#pragma warning disable CA1859 // expression trees compose as Expression; narrower return types buy nothing here

/// <summary>The kernel's loops: over a stream's objects, over a comprehension's combinations (nested, with the partial four-vector sums of the outer objects), and the reductions and elements they compute.</summary>
internal sealed partial class KernelCompiler
{
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
}
