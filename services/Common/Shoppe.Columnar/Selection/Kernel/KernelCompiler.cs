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
internal sealed partial class KernelCompiler
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
}
