namespace Shoppe.Columnar.Selection;

/// <summary>A column of a dataset as the selection language sees it.</summary>
/// <param name="Name">The column's name.</param>
/// <param name="IsList">Per-object (a list per event) rather than per-event.</param>
/// <param name="IsBool">Booleans (true/false) rather than numbers.</param>
public sealed record ColumnInfo(string Name, bool IsList, bool IsBool)
{
    /// <summary>The collection of a per-object column: the part of its name before the first '_' (<c>Jet</c> of <c>Jet_pt</c>).</summary>
    public string Collection => Name.IndexOf('_', StringComparison.Ordinal) is > 0 and var i ? Name[..i] : Name;

    /// <summary>The type each value is read as: the column's own (float stays float), double for integers that can be null (NaN).</summary>
    public Type ValueType { get; init; } = IsBool ? typeof(bool) : typeof(double);
}

/// <summary>What a bound value is: a number, true/false, an object of a collection, a choice of objects, or an event's own four-vector (MET).</summary>
internal enum ValueKind
{
    Number,
    Bool,
    Object,
    Choice,
    EventVector,
}

internal enum Reduction
{
    Count,
    Sum,
    Max,
    Min,
    Any,
    All,
    ArgMin,
    ArgMax,
}

internal enum Kinematic
{
    Mass,
    Pt,
    DeltaR,
    Mt,
    Eta,
    Phi,
}

/// <summary>A collection of the dataset (<c>Muon</c>): its number in the query and a column that gives its per-event layout.</summary>
internal sealed record Collection(string Name, int Id, string LayoutColumn);

/// <summary>What a comprehension runs over: one collection, or a union of several (<c>Electron + Muon</c>, electrons first).</summary>
internal sealed class Source(IReadOnlyList<Collection> collections)
{
    public IReadOnlyList<Collection> Collections { get; } = collections;

    public string Name { get; } = string.Join(" + ", collections.Select(c => c.Name));

    public bool IsUnion => Collections.Count > 1;
}

/// <summary>An object variable: named in a comprehension, or the hidden one a per-object column (<c>Jet_pt</c>) runs over.</summary>
internal sealed class Variable(string name, Source source)
{
    public string Name { get; } = name;

    public Source Source { get; } = source;
}

/// <summary>
/// The objects a per-object value runs over: every object of a collection, or those its masks keep. Two per-object
/// values combine only when they run over the same stream (<c>Jet_pt</c> and <c>Jet_eta</c> do;
/// <c>Jet_pt[Jet_pt &gt; 40]</c> and <c>Jet_eta</c> do not).
/// </summary>
internal sealed class Stream(Variable variable, IReadOnlyList<Bound> filters)
{
    public Variable Variable { get; } = variable;

    public IReadOnlyList<Bound> Filters { get; } = filters;

    public string Describe() => $"one value per {Variable.Source.Name} object{(Filters.Count > 0 ? " (after a mask)" : "")}";
}

/// <summary>A bound, typed expression. <see cref="Stream"/> is set for per-object values (null: one value per event or per combination).</summary>
internal abstract class Bound(ValueKind kind, Stream? stream)
{
    public ValueKind Kind { get; } = kind;

    public Stream? Stream { get; } = stream;

    /// <summary>Named twice by the expression (the middle of <c>60 &lt; mass(a, b) &lt; 120</c>): computed once where it is first used.</summary>
    public bool Shared { get; set; }

    public bool IsNumber => Kind == ValueKind.Number;

    public string DescribeShape() => Stream?.Describe() ?? "one value per event";
}

internal sealed class ConstantBound(double value, ValueKind kind) : Bound(kind, null)
{
    public double Value { get; } = value;
}

/// <summary>A per-event column (<c>MET_pt</c>).</summary>
internal sealed class EventColumnBound(ColumnInfo column) : Bound(column.IsBool ? ValueKind.Bool : ValueKind.Number, null)
{
    public ColumnInfo Column { get; } = column;
}

/// <summary>An object variable's value: the object itself.</summary>
internal sealed class VariableBound(Variable variable, Stream? stream) : Bound(ValueKind.Object, stream)
{
    public Variable Variable { get; } = variable;
}

/// <summary>A field of an object (<c>m.pt</c>; <c>Jet_pt</c> is the field <c>pt</c> of the hidden variable of its stream). One column per collection of the object's source.</summary>
internal sealed class FieldBound(Bound target, string field, IReadOnlyList<ColumnInfo> columns, Stream? stream)
    : Bound(columns[0].IsBool ? ValueKind.Bool : ValueKind.Number, stream)
{
    public Bound Target { get; } = target;

    public string Field { get; } = field;

    public IReadOnlyList<ColumnInfo> Columns { get; } = columns;
}

/// <summary><c>l.kind</c> of a union's object: the position of its collection in the union.</summary>
internal sealed class KindBound(Bound target) : Bound(ValueKind.Number, target.Stream)
{
    public Bound Target { get; } = target;
}

/// <summary>A name given by <c>let</c>.</summary>
internal sealed class LetSlot(string name, Bound value)
{
    public string Name { get; } = name;

    public Bound Value { get; } = value;
}

internal sealed class LetBound(LetSlot slot, Bound body) : Bound(body.Kind, body.Stream)
{
    public LetSlot Slot { get; } = slot;

    public Bound Body { get; } = body;
}

internal sealed class LetReferenceBound(LetSlot slot) : Bound(slot.Value.Kind, slot.Value.Stream)
{
    public LetSlot Slot { get; } = slot;
}

internal enum Operator
{
    Add, Subtract, Multiply, Divide, Modulo, Power, Atan2, Max2, Min2,
    Less, LessOrEqual, Greater, GreaterOrEqual, Equal, NotEqual, And, Or,
    Negate, Not, Abs, Sqrt, Sin, Cos, Tan, Sinh, Cosh, Tanh, Exp, Log, Log10, Atan,
}

internal sealed class UnaryBound(Operator op, Bound operand, ValueKind kind) : Bound(kind, operand.Stream)
{
    public Operator Operator { get; } = op;

    public Bound Operand { get; } = operand;
}

internal sealed class BinaryBound(Operator op, Bound left, Bound right, ValueKind kind) : Bound(kind, left.Stream ?? right.Stream)
{
    public Operator Operator { get; } = op;

    public Bound Left { get; } = left;

    public Bound Right { get; } = right;
}

/// <summary><c>max(a, b, c)</c> / <c>min(...)</c>: element-wise over two or more numbers.</summary>
internal sealed class ExtremumBound(bool max, IReadOnlyList<Bound> arguments, Stream? stream) : Bound(ValueKind.Number, stream)
{
    public bool IsMax { get; } = max;

    public IReadOnlyList<Bound> Arguments { get; } = arguments;
}

/// <summary><c>a, b in Muon where cond: body</c>: the combinations a reduction runs over.</summary>
internal sealed class ComprehensionBound(IReadOnlyList<Variable> variables, Source source, Bound? where, Bound? body)
    : Bound(body?.Kind ?? ValueKind.Bool, null)
{
    public IReadOnlyList<Variable> Variables { get; } = variables;

    public Source Source { get; } = source;

    public Bound? Where { get; } = where;

    public Bound? Body { get; } = body;
}

/// <summary>
/// A reduction to one value per event (or per combination of an enclosing comprehension): of a per-object value
/// over its stream, or of a comprehension's body over its combinations. <c>argmin</c>/<c>argmax</c> give a choice.
/// </summary>
internal sealed class ReduceBound(Reduction reduction, Bound operand)
    : Bound(reduction switch
    {
        Reduction.Any or Reduction.All => ValueKind.Bool,
        Reduction.ArgMin or Reduction.ArgMax => ValueKind.Choice,
        _ => ValueKind.Number,
    }, null)
{
    public Reduction Reduction { get; } = reduction;

    public Bound Operand { get; } = operand;

    /// <summary>For an argmin/argmax that depends on nothing but the event: its canonical text, which the kernel makes it once per event under.</summary>
    public string? EventKey { get; init; }

    /// <summary>The variables of the combinations an argmin/argmax chooses among.</summary>
    public IReadOnlyList<Variable> ChoiceVariables => Operand is ComprehensionBound c ? c.Variables : [];

    public Source? ChoiceSource => (Operand as ComprehensionBound)?.Source;
}

/// <summary><c>Jet_pt[Jet_pt &gt; 40]</c>: the values on the objects the mask keeps.</summary>
internal sealed class MaskBound(Bound target, Bound mask, Stream stream) : Bound(target.Kind, stream)
{
    public Bound Target { get; } = target;

    public Bound Mask { get; } = mask;
}

/// <summary><c>Jet_pt[0]</c>: one object's value per event by position (negative counts from the end); NaN where there is none.</summary>
internal sealed class ElementBound(Bound target, int index) : Bound(target.Kind, null)
{
    public Bound Target { get; } = target;

    public int Index { get; } = index;
}

/// <summary><c>t.a</c>: the object a choice holds for one of its variables (missing when nothing was chosen).</summary>
internal sealed class ChoiceObjectBound(Bound choice, int variable) : Bound(ValueKind.Object, null)
{
    public Bound Choice { get; } = choice;

    public int Variable { get; } = variable;
}

/// <summary><c>MET</c>: an event's own four-vector, from the per-event columns <c>MET_pt</c>, <c>MET_phi</c> (and <c>_eta</c>, <c>_mass</c> where present).</summary>
internal sealed class EventVectorBound(string prefix) : Bound(ValueKind.EventVector, null)
{
    public string Prefix { get; } = prefix;
}

/// <summary><c>mass(a, b, c)</c>, <c>pt(...)</c> of the four-vector sum of objects, choices and event vectors; <c>deltaR(x, y)</c>, <c>mt(x, y)</c>.</summary>
internal sealed class KinematicBound(Kinematic what, IReadOnlyList<Bound> terms, Stream? stream) : Bound(ValueKind.Number, stream)
{
    public Kinematic What { get; } = what;

    public IReadOnlyList<Bound> Terms { get; } = terms;
}

/// <summary><c>a == b</c> / <c>a != b</c> of objects: the same object of the same collection.</summary>
internal sealed class SameObjectBound(Bound left, Bound right, bool negated) : Bound(ValueKind.Bool, left.Stream ?? right.Stream)
{
    public Bound Left { get; } = left;

    public Bound Right { get; } = right;

    public bool Negated { get; } = negated;
}

/// <summary><c>x in t</c> / <c>x not in t</c>: the object is one of the choice's.</summary>
internal sealed class MembershipBound(Bound item, Bound choice, bool negated) : Bound(ValueKind.Bool, item.Stream)
{
    public Bound Item { get; } = item;

    public Bound Choice { get; } = choice;

    public bool Negated { get; } = negated;
}
