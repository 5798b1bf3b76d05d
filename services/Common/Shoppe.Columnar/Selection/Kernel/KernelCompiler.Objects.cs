using System.Linq.Expressions;
using static System.Linq.Expressions.Expression;

namespace Shoppe.Columnar.Selection;

#pragma warning disable CA1859 // expression trees compose as Expression; narrower return types buy nothing here

/// <summary>The kernel's objects and choices: argmin/argmax made where used (or once per event), let, identity and membership.</summary>
internal sealed partial class KernelCompiler
{
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
}
