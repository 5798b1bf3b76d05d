using System.Linq.Expressions;
using static System.Linq.Expressions.Expression;

namespace Shoppe.Columnar.Selection;

#pragma warning disable CA1859 // expression trees compose as Expression; narrower return types buy nothing here

/// <summary>The kernel's values: columns, fields, operators, comparisons in the narrowest exact type.</summary>
internal sealed partial class KernelCompiler
{
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
}
