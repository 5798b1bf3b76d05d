using Shoppe.Columnar.Io;

namespace Shoppe.Columnar.Selection;

/// <summary>
/// Decides from a row group's column bounds (its Parquet statistics) whether any event of it can pass a bound
/// filter. It answers "no" only when that is certain: every value a per-event or per-object column can take lies in
/// its bounds, and a comparison with NaN (a null, a missing element, the max of nothing) is false, so a comparison
/// whose two sides' ranges cannot meet holds for no event. Anything it does not understand (<c>!</c>, <c>!=</c>,
/// <c>all(...)</c>, kinematics, most arithmetic) may pass.
/// </summary>
internal sealed class Pruning(Func<string, ColumnStatistics?> statistics)
{
    private readonly Dictionary<string, ColumnStatistics?> _known = new(StringComparer.Ordinal);

    /// <summary>False only when no event of the row group can make <paramref name="condition"/> true.</summary>
    public bool MayPass(Bound condition) => condition switch
    {
        BinaryBound { Operator: Operator.And } and => MayPass(and.Left) && MayPass(and.Right),
        BinaryBound { Operator: Operator.Or } or => MayPass(or.Left) || MayPass(or.Right),
        BinaryBound { Operator: Operator.Less or Operator.LessOrEqual or Operator.Greater or Operator.GreaterOrEqual or Operator.Equal } comparison
            => Range(comparison.Left) is not { } left || Range(comparison.Right) is not { } right || CanHold(comparison.Operator, left, right),
        ReduceBound { Reduction: Reduction.Any } any => MayPass(any.Operand),
        ComprehensionBound comprehension => (comprehension.Where is null || MayPass(comprehension.Where)) && (comprehension.Body is null || MayPass(comprehension.Body)),
        LetBound let => MayPass(let.Body),
        EventColumnBound { Column.IsBool: true } or FieldBound { Kind: ValueKind.Bool } => Range(condition) is not { } flag || flag.High >= 1,
        _ => true,
    };

    private static bool CanHold(Operator op, Interval left, Interval right) => op switch
    {
        Operator.Less => left.Low < right.High,
        Operator.LessOrEqual => left.Low <= right.High,
        Operator.Greater => left.High > right.Low,
        Operator.GreaterOrEqual => left.High >= right.Low,
        _ => left.Low <= right.High && right.Low <= left.High, // Equal: the ranges overlap
    };

    /// <summary>Every value <paramref name="value"/> can take that is not NaN, or null when unknown.</summary>
    private Interval? Range(Bound value)
    {
        switch (value)
        {
            case ConstantBound constant:
                return double.IsNaN(constant.Value) ? null : new Interval(constant.Value, constant.Value);
            case EventColumnBound column:
                return Column(column.Column.Name, column.Column.IsBool);
            case FieldBound { Target: VariableBound } field:
                // A field of an object of the collection(s): one of the column's values.
                Interval? union = null;
                foreach (var column in field.Columns)
                {
                    if (Column(column.Name, column.IsBool) is not { } range)
                    {
                        return null;
                    }

                    union = union is { } u ? new Interval(Math.Min(u.Low, range.Low), Math.Max(u.High, range.High)) : range;
                }

                return union;
            case MaskBound mask:
                return Range(mask.Target);
            case ElementBound element:
                // A missing boolean element is false (0), whatever the column holds.
                return Range(element.Target) is { } e && element.Kind == ValueKind.Bool ? new Interval(Math.Min(0, e.Low), e.High) : Range(element.Target);
            case LetBound let:
                return Range(let.Body);
            case LetReferenceBound reference:
                return Range(reference.Slot.Value);
            case UnaryBound { Operator: Operator.Negate } negate:
                return Range(negate.Operand) is { } n ? new Interval(-n.High, -n.Low) : null;
            case UnaryBound { Operator: Operator.Abs } abs:
                if (Range(abs.Operand) is not { } a)
                {
                    return null;
                }

                return a.Low >= 0 ? a : a.High <= 0 ? new Interval(-a.High, -a.Low) : new Interval(0, Math.Max(-a.Low, a.High));
            case BinaryBound { Operator: Operator.Add or Operator.Subtract } sum:
                if (Range(sum.Left) is not { } l || Range(sum.Right) is not { } r)
                {
                    return null;
                }

                var range2 = sum.Operator == Operator.Add ? new Interval(l.Low + r.Low, l.High + r.High) : new Interval(l.Low - r.High, l.High - r.Low);
                return double.IsNaN(range2.Low) || double.IsNaN(range2.High) ? null : range2;
            case ReduceBound { Reduction: Reduction.Count } count:
                // count(...) is 0 where nothing it counts can be true: then only 0 is possible.
                return count.Operand.Kind == ValueKind.Bool && !MayPass(count.Operand) ? new Interval(0, 0) : null;
            case ReduceBound { Reduction: Reduction.Max or Reduction.Min } extremum when extremum.Operand.Stream is not null:
                // The largest or smallest of some of the values (NaN where there are none).
                return Range(extremum.Operand);
            default:
                return null;
        }
    }

    /// <summary>A column's bounds; a boolean column with nulls can also be false (a null boolean reads as false).</summary>
    private Interval? Column(string name, bool isBool)
    {
        if (!_known.TryGetValue(name, out var known))
        {
            known = statistics(name);
            _known[name] = known;
        }

        return known is { } s ? new Interval(isBool && s.Nulls > 0 ? Math.Min(0, s.Min) : s.Min, s.Max) : null;
    }

    private readonly record struct Interval(double Low, double High);
}
