using System.Numerics;

namespace Shoppe.Columnar.Selection;

/// <summary>Where a value lives: one for the whole batch, one per event, one per object of a collection, one per combination.</summary>
internal enum Level
{
    Scalar,
    Event,
    Objects,
    Combinations,
}

internal enum ValueKind
{
    Number,
    Bool,
}

/// <summary>
/// The shape of a value. Two per-object values combine only when their <see cref="Key"/>s match: <c>Jet_pt</c> and
/// <c>Jet_eta</c> (key "Jet") do; <c>Jet_pt[Jet_pt &gt; 40]</c> and <c>Jet_eta</c> do not.
/// </summary>
internal sealed record Shape(Level Level, string Key = "", string Collection = "")
{
    public static readonly Shape Scalar = new(Level.Scalar);
    public static readonly Shape Event = new(Level.Event);

    public bool IsJagged => Level is Level.Objects or Level.Combinations;

    public string Describe() => Level switch
    {
        Level.Scalar => "a constant",
        Level.Event => "one value per event",
        Level.Objects => $"one value per {Collection} object",
        _ => "one value per combination",
    };
}

/// <summary>
/// Values of a batch: a scalar (one value), one per event, or jagged (per-event lists: <see cref="Offsets"/> has one
/// entry more than there are events). Booleans are 0 and 1; everything computes in double precision.
/// Arrays are allocated uninitialised (every element is written): zeroing them cost more than the arithmetic
/// (docs/performance.md, "Delivery").
/// </summary>
internal sealed class Vec
{
    public Vec(double[] values, int[]? offsets = null, bool scalar = false)
    {
        Values = values;
        Offsets = offsets;
        IsScalar = scalar;
    }

    public double[] Values { get; }

    public int[]? Offsets { get; }

    public bool IsScalar { get; }

    public static Vec Constant(double value) => new([value], scalar: true);

    /// <summary>Expands per-event values (or a scalar) to the elements of a jagged layout.</summary>
    public Vec BroadcastTo(int[] offsets)
    {
        var events = offsets.Length - 1;
        var values = GC.AllocateUninitializedArray<double>(offsets[events]);
        if (IsScalar)
        {
            Array.Fill(values, Values[0]);
        }
        else
        {
            for (var e = 0; e < events; e++)
            {
                values.AsSpan(offsets[e], offsets[e + 1] - offsets[e]).Fill(Values[e]);
            }
        }

        return new Vec(values, offsets);
    }

    /// <summary>Expands a scalar to one value per event.</summary>
    public Vec BroadcastEvents(int events)
    {
        if (!IsScalar)
        {
            return this;
        }

        var values = GC.AllocateUninitializedArray<double>(events);
        Array.Fill(values, Values[0]);
        return new Vec(values);
    }
}

/// <summary>Element-wise operations, one loop each, specialised by the JIT through the struct type argument.</summary>
internal interface IBinaryOp
{
    /// <summary>Whether <see cref="Apply(Vector{double}, Vector{double})"/> exists (arithmetic and comparisons).</summary>
    static virtual bool Vectorized => false;

    static abstract double Apply(double a, double b);

    static virtual Vector<double> Apply(Vector<double> a, Vector<double> b) => throw new NotSupportedException();
}

internal interface IUnaryOp
{
    static virtual bool Vectorized => false;

    static abstract double Apply(double a);

    static virtual Vector<double> Apply(Vector<double> a) => throw new NotSupportedException();
}

internal static class VecMath
{
    public static Vec Binary<TOp>(Vec left, Vec right)
        where TOp : struct, IBinaryOp
    {
        if (left.IsScalar && right.IsScalar)
        {
            return Vec.Constant(TOp.Apply(left.Values[0], right.Values[0]));
        }

        var offsets = left.Offsets ?? right.Offsets;
        if (left.Offsets is not null && right.Offsets is not null && !ReferenceEquals(left.Offsets, right.Offsets))
        {
            EnsureSameLayout(left.Offsets, right.Offsets);
        }

        var result = GC.AllocateUninitializedArray<double>(left.IsScalar ? right.Values.Length : left.Values.Length);
        var width = Vector<double>.Count;
        if (left.IsScalar)
        {
            var a = left.Values[0];
            var b = right.Values;
            var i = 0;
            if (TOp.Vectorized && Vector.IsHardwareAccelerated)
            {
                var va = new Vector<double>(a);
                for (; i <= result.Length - width; i += width)
                {
                    TOp.Apply(va, new Vector<double>(b, i)).CopyTo(result, i);
                }
            }

            for (; i < result.Length; i++)
            {
                result[i] = TOp.Apply(a, b[i]);
            }

            return new Vec(result, offsets);
        }

        if (right.IsScalar)
        {
            var a = left.Values;
            var b = right.Values[0];
            var i = 0;
            if (TOp.Vectorized && Vector.IsHardwareAccelerated)
            {
                var vb = new Vector<double>(b);
                for (; i <= result.Length - width; i += width)
                {
                    TOp.Apply(new Vector<double>(a, i), vb).CopyTo(result, i);
                }
            }

            for (; i < result.Length; i++)
            {
                result[i] = TOp.Apply(a[i], b);
            }

            return new Vec(result, offsets);
        }

        if (left.Offsets is null != right.Offsets is null)
        {
            // An event-level value meets a jagged one: repeat it for each object of its event.
            (left, right) = left.Offsets is null ? (left.BroadcastTo(right.Offsets!), right) : (left, right.BroadcastTo(left.Offsets!));
            result = GC.AllocateUninitializedArray<double>(left.Values.Length);
        }

        var x = left.Values;
        var y = right.Values;
        if (x.Length != y.Length)
        {
            throw new InvalidOperationException($"Values of {x.Length} and {y.Length} elements cannot combine.");
        }

        var k = 0;
        if (TOp.Vectorized && Vector.IsHardwareAccelerated)
        {
            for (; k <= result.Length - width; k += width)
            {
                TOp.Apply(new Vector<double>(x, k), new Vector<double>(y, k)).CopyTo(result, k);
            }
        }

        for (; k < result.Length; k++)
        {
            result[k] = TOp.Apply(x[k], y[k]);
        }

        return new Vec(result, offsets);
    }

    public static Vec Unary<TOp>(Vec operand)
        where TOp : struct, IUnaryOp
    {
        var source = operand.Values;
        var result = GC.AllocateUninitializedArray<double>(source.Length);
        var i = 0;
        if (TOp.Vectorized && Vector.IsHardwareAccelerated)
        {
            for (; i <= result.Length - Vector<double>.Count; i += Vector<double>.Count)
            {
                TOp.Apply(new Vector<double>(source, i)).CopyTo(result, i);
            }
        }

        for (; i < result.Length; i++)
        {
            result[i] = TOp.Apply(source[i]);
        }

        return new Vec(result, operand.Offsets, operand.IsScalar);
    }

    /// <summary>Two collections of the same name must hold the same number of objects in every event.</summary>
    public static void EnsureSameLayout(int[] a, int[] b)
    {
        if (!a.AsSpan().SequenceEqual(b))
        {
            var e = 0;
            while (e + 1 < Math.Min(a.Length, b.Length) && a[e + 1] - a[e] == b[e + 1] - b[e])
            {
                e++;
            }

            throw new ColumnarDataException($"Two columns of one collection disagree on how many objects event {e} of the batch has.");
        }
    }
}

/// <summary>The data contradicts itself or the query (per-object columns of one collection with different counts).</summary>
public sealed class ColumnarDataException : Exception
{
    public ColumnarDataException()
    {
    }

    public ColumnarDataException(string message)
        : base(message)
    {
    }

    public ColumnarDataException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

#pragma warning disable CA1815 // operation tags, never compared
internal readonly struct AddOp : IBinaryOp { public static bool Vectorized => true; public static double Apply(double a, double b) => a + b; public static Vector<double> Apply(Vector<double> a, Vector<double> b) => a + b; }

internal readonly struct SubOp : IBinaryOp { public static bool Vectorized => true; public static double Apply(double a, double b) => a - b; public static Vector<double> Apply(Vector<double> a, Vector<double> b) => a - b; }

internal readonly struct MulOp : IBinaryOp { public static bool Vectorized => true; public static double Apply(double a, double b) => a * b; public static Vector<double> Apply(Vector<double> a, Vector<double> b) => a * b; }

internal readonly struct DivOp : IBinaryOp { public static bool Vectorized => true; public static double Apply(double a, double b) => a / b; public static Vector<double> Apply(Vector<double> a, Vector<double> b) => a / b; }

internal readonly struct ModOp : IBinaryOp { public static double Apply(double a, double b) => a % b; }

internal readonly struct PowOp : IBinaryOp { public static double Apply(double a, double b) => Math.Pow(a, b); }

internal readonly struct Atan2Op : IBinaryOp { public static double Apply(double a, double b) => Math.Atan2(a, b); }

internal readonly struct Min2Op : IBinaryOp { public static double Apply(double a, double b) => Math.Min(a, b); }

internal readonly struct Max2Op : IBinaryOp { public static double Apply(double a, double b) => Math.Max(a, b); }

internal readonly struct LtOp : IBinaryOp { public static bool Vectorized => true; public static double Apply(double a, double b) => a < b ? 1 : 0; public static Vector<double> Apply(Vector<double> a, Vector<double> b) => Truth.Of(Vector.LessThan(a, b)); }

internal readonly struct LeOp : IBinaryOp { public static bool Vectorized => true; public static double Apply(double a, double b) => a <= b ? 1 : 0; public static Vector<double> Apply(Vector<double> a, Vector<double> b) => Truth.Of(Vector.LessThanOrEqual(a, b)); }

internal readonly struct GtOp : IBinaryOp { public static bool Vectorized => true; public static double Apply(double a, double b) => a > b ? 1 : 0; public static Vector<double> Apply(Vector<double> a, Vector<double> b) => Truth.Of(Vector.GreaterThan(a, b)); }

internal readonly struct GeOp : IBinaryOp { public static bool Vectorized => true; public static double Apply(double a, double b) => a >= b ? 1 : 0; public static Vector<double> Apply(Vector<double> a, Vector<double> b) => Truth.Of(Vector.GreaterThanOrEqual(a, b)); }

internal readonly struct EqOp : IBinaryOp { public static bool Vectorized => true; public static double Apply(double a, double b) => a == b ? 1 : 0; public static Vector<double> Apply(Vector<double> a, Vector<double> b) => Truth.Of(Vector.Equals(a, b)); }

internal readonly struct NeOp : IBinaryOp { public static bool Vectorized => true; public static double Apply(double a, double b) => a != b ? 1 : 0; public static Vector<double> Apply(Vector<double> a, Vector<double> b) => Vector<double>.One - Truth.Of(Vector.Equals(a, b)); }

internal readonly struct AndOp : IBinaryOp { public static bool Vectorized => true; public static double Apply(double a, double b) => a != 0 && b != 0 ? 1 : 0; public static Vector<double> Apply(Vector<double> a, Vector<double> b) => Truth.Of(~Vector.Equals(a, Vector<double>.Zero) & ~Vector.Equals(b, Vector<double>.Zero)); }

internal readonly struct OrOp : IBinaryOp { public static bool Vectorized => true; public static double Apply(double a, double b) => a != 0 || b != 0 ? 1 : 0; public static Vector<double> Apply(Vector<double> a, Vector<double> b) => Truth.Of(~Vector.Equals(a, Vector<double>.Zero) | ~Vector.Equals(b, Vector<double>.Zero)); }

internal readonly struct NotOp : IUnaryOp { public static double Apply(double a) => a == 0 ? 1 : 0; }

internal readonly struct NegOp : IUnaryOp { public static bool Vectorized => true; public static double Apply(double a) => -a; public static Vector<double> Apply(Vector<double> a) => -a; }

internal readonly struct AbsOp : IUnaryOp { public static bool Vectorized => true; public static double Apply(double a) => Math.Abs(a); public static Vector<double> Apply(Vector<double> a) => Vector.Abs(a); }

internal readonly struct SqrtOp : IUnaryOp { public static bool Vectorized => true; public static double Apply(double a) => Math.Sqrt(a); public static Vector<double> Apply(Vector<double> a) => Vector.SquareRoot(a); }

internal readonly struct SinOp : IUnaryOp { public static double Apply(double a) => Math.Sin(a); }

internal readonly struct CosOp : IUnaryOp { public static double Apply(double a) => Math.Cos(a); }

internal readonly struct TanOp : IUnaryOp { public static double Apply(double a) => Math.Tan(a); }

internal readonly struct SinhOp : IUnaryOp { public static double Apply(double a) => Math.Sinh(a); }

internal readonly struct CoshOp : IUnaryOp { public static double Apply(double a) => Math.Cosh(a); }

internal readonly struct TanhOp : IUnaryOp { public static double Apply(double a) => Math.Tanh(a); }

internal readonly struct ExpOp : IUnaryOp { public static double Apply(double a) => Math.Exp(a); }

internal readonly struct LogOp : IUnaryOp { public static double Apply(double a) => Math.Log(a); }

internal readonly struct Log10Op : IUnaryOp { public static double Apply(double a) => Math.Log10(a); }

internal readonly struct AtanOp : IUnaryOp { public static double Apply(double a) => Math.Atan(a); }
#pragma warning restore CA1815

/// <summary>Comparison masks (all bits set where true) as 1.0 / 0.0.</summary>
internal static class Truth
{
    public static Vector<double> Of(Vector<long> mask) => Vector.ConditionalSelect(mask, Vector<double>.One, Vector<double>.Zero);
}
