using System.Runtime.InteropServices;
using Apache.Arrow;
using Apache.Arrow.Types;
using Shoppe.Columnar.Selection;

namespace Shoppe.Columnar;

/// <summary>Arrow arrays to the selection language's vectors, and the row/element selections back to Arrow arrays of the original types.</summary>
internal static class ArrowColumns
{
    /// <summary>The selection language's view of an Arrow field, or null for a type it cannot compute on.</summary>
    public static ColumnInfo? Describe(Field field)
    {
        var type = field.DataType;
        var isList = false;
        if (type is LargeListType large)
        {
            type = large.ValueDataType;
            isList = true;
        }
        else if (type is ListType list)
        {
            type = list.ValueDataType;
            isList = true;
        }

        var valueField = field.DataType switch
        {
            LargeListType l => l.ValueField,
            ListType l => l.ValueField,
            _ => field,
        };
        Type? clr = type switch
        {
            BooleanType => typeof(bool),
            FloatType => typeof(float),
            DoubleType => typeof(double),
            Int8Type => typeof(sbyte),
            Int16Type => typeof(short),
            Int32Type => typeof(int),
            Int64Type => typeof(long),
            UInt8Type => typeof(byte),
            UInt16Type => typeof(ushort),
            UInt32Type => typeof(uint),
            UInt64Type => typeof(ulong),
            _ => null,
        };
        if (clr is null)
        {
            return null;
        }

        // Integers that can be null are read as double, a null as NaN (an integer has no value for "none").
        if (clr != typeof(bool) && clr != typeof(float) && valueField.IsNullable)
        {
            clr = typeof(double);
        }

        return new ColumnInfo(field.Name, isList, IsBool: clr == typeof(bool)) { ValueType = clr };
    }

    /// <summary>The per-event list layout of a list array: offsets from 0, and where its values start in the child array.</summary>
    public static (int[] Offsets, int Start) Layout(IArrowArray array) =>
        Layout(array, GC.AllocateUninitializedArray<int>(array.Length + 1)); // every entry is written: no need to zero

    /// <summary>As <see cref="Layout(IArrowArray)"/>, into <paramref name="offsets"/> (at least one longer than the array).</summary>
    public static (int[] Offsets, int Start) Layout(IArrowArray array, int[] offsets)
    {
        long start;
        switch (array)
        {
            case LargeListArray large:
            {
                var source = large.ValueOffsets;
                start = source[0];
                for (var i = 0; i <= array.Length; i++)
                {
                    offsets[i] = checked((int)(source[i] - start));
                }

                break;
            }

            case ListArray list:
            {
                var source = list.ValueOffsets;
                start = source[0];
                for (var i = 0; i <= array.Length; i++)
                {
                    offsets[i] = (int)(source[i] - start);
                }

                break;
            }

            default:
                throw new ArgumentException($"{array.Data.DataType.Name} is not a list type.", nameof(array));
        }

        return (offsets, (int)start);
    }

    /// <summary>
    /// Checks that a list column has the layout of its collection (<paramref name="offsets"/>, from another of its
    /// columns): the same number of objects in every event. Returns where its values start.
    /// </summary>
    public static int EnsureLayout(IArrowArray array, int[] offsets)
    {
        var (matching, start) = array switch
        {
            LargeListArray large => Matching(large.ValueOffsets, offsets),
            ListArray list => Matching(list.ValueOffsets, offsets),
            _ => throw new ArgumentException($"{array.Data.DataType.Name} is not a list type.", nameof(array)),
        };
        if (matching <= array.Length)
        {
            throw new ColumnarDataException($"Two columns of one collection disagree on how many objects event {Math.Max(0, matching - 1)} of the batch has.");
        }

        return start;
    }

    /// <summary>How many of <paramref name="source"/>'s offsets (taken from its first) equal <paramref name="offsets"/>, and its first.</summary>
    private static (int Matching, int Start) Matching<T>(ReadOnlySpan<T> source, int[] offsets)
        where T : struct, System.Numerics.IBinaryInteger<T>
    {
        var start = source[0];
        var e = 0;
        while (e < source.Length && int.CreateTruncating(source[e] - start) == offsets[e])
        {
            e++;
        }

        return (e, int.CreateChecked(start));
    }

    public static IArrowArray Values(IArrowArray list) => list switch
    {
        LargeListArray large => large.Values,
        ListArray small => small.Values,
        _ => throw new ArgumentException($"{list.Data.DataType.Name} is not a list type.", nameof(list)),
    };

    /// <summary>Reads <paramref name="count"/> values from <paramref name="start"/> as doubles (booleans as 0/1, nulls as NaN).</summary>
    public static double[] ToDoubles(IArrowArray array, int start, int count)
    {
        var result = GC.AllocateUninitializedArray<double>(count);
        switch (array)
        {
            case FloatArray a: WidenFloats(a.Values.Slice(start, count), result); break;
            case DoubleArray a: a.Values.Slice(start, count).CopyTo(result); break;
            case Int32Array a: Widen(a.Values.Slice(start, count), result); break;
            case UInt32Array a: Widen(a.Values.Slice(start, count), result); break;
            case Int64Array a: Widen(a.Values.Slice(start, count), result); break;
            case UInt64Array a: Widen(a.Values.Slice(start, count), result); break;
            case UInt8Array a: Widen(a.Values.Slice(start, count), result); break;
            case Int8Array a: Widen(a.Values.Slice(start, count), result); break;
            case Int16Array a: Widen(a.Values.Slice(start, count), result); break;
            case UInt16Array a: Widen(a.Values.Slice(start, count), result); break;
            case BooleanArray a:
                for (var i = 0; i < count; i++)
                {
                    result[i] = a.GetValue(start + i) == true ? 1 : 0;
                }

                break;
            default:
                throw new ColumnarDataException($"Arrow type {array.Data.DataType.Name} cannot be computed on.");
        }

        if (array.NullCount > 0 && array is not BooleanArray)
        {
            for (var i = 0; i < count; i++)
            {
                if (array.IsNull(start + i))
                {
                    result[i] = double.NaN;
                }
            }
        }

        return result;
    }

    /// <summary>float to double, a vector at a time (most NanoAOD columns are float).</summary>
    private static void WidenFloats(ReadOnlySpan<float> source, Span<double> target)
    {
        var i = 0;
        if (System.Numerics.Vector.IsHardwareAccelerated)
        {
            var width = System.Numerics.Vector<float>.Count;
            for (; i <= source.Length - width; i += width)
            {
                System.Numerics.Vector.Widen(new System.Numerics.Vector<float>(source[i..]), out var low, out var high);
                low.CopyTo(target[i..]);
                high.CopyTo(target[(i + (width / 2))..]);
            }
        }

        for (; i < source.Length; i++)
        {
            target[i] = source[i];
        }
    }

    private static void Widen<T>(ReadOnlySpan<T> source, Span<double> target)
        where T : struct, System.Numerics.INumberBase<T>
    {
        for (var i = 0; i < source.Length; i++)
        {
            target[i] = double.CreateTruncating(source[i]);
        }
    }

    /// <summary>The values at <paramref name="indices"/> (positions in <paramref name="array"/>), in the array's own type.</summary>
    public static IArrowArray Take(IArrowArray array, ReadOnlySpan<int> indices) => array switch
    {
        FloatArray a => TakePrimitive(a, indices),
        DoubleArray a => TakePrimitive(a, indices),
        Int32Array a => TakePrimitive(a, indices),
        UInt32Array a => TakePrimitive(a, indices),
        Int64Array a => TakePrimitive(a, indices),
        UInt64Array a => TakePrimitive(a, indices),
        UInt8Array a => TakePrimitive(a, indices),
        Int8Array a => TakePrimitive(a, indices),
        Int16Array a => TakePrimitive(a, indices),
        UInt16Array a => TakePrimitive(a, indices),
        BooleanArray a => TakeBooleans(a, indices),
        _ => throw new ColumnarDataException($"Arrow type {array.Data.DataType.Name} cannot be delivered."),
    };

    private static IArrowArray TakePrimitive<T>(PrimitiveArray<T> array, ReadOnlySpan<int> indices)
        where T : struct, IEquatable<T>
    {
        var source = array.Values;
        var bytes = new byte[indices.Length * Marshal.SizeOf<T>()];
        var target = MemoryMarshal.Cast<byte, T>(bytes.AsSpan());
        if (indices.Length == array.Length && array.NullCount == 0)
        {
            // Every row kept (indices rise strictly, so they are 0..n-1): one copy.
            source.CopyTo(target);
            return ArrowArrayFactory.BuildArray(new ArrayData(array.Data.DataType, indices.Length, 0, 0, [ArrowBuffer.Empty, new ArrowBuffer(bytes)]));
        }

        for (var i = 0; i < indices.Length; i++)
        {
            target[i] = source[indices[i]];
        }

        var data = new ArrayData(array.Data.DataType, indices.Length, 0, 0, [ArrowBuffer.Empty, new ArrowBuffer(bytes)]);
        return ArrowArrayFactory.BuildArray(data);
    }

    private static BooleanArray TakeBooleans(BooleanArray array, ReadOnlySpan<int> indices)
    {
        var builder = new BooleanArray.Builder().Reserve(indices.Length);
        foreach (var i in indices)
        {
            builder.Append(array.GetValue(i) == true);
        }

        return builder.Build();
    }

    /// <summary>A list column of the kept rows, each row's list cut to the kept elements (all of them when <paramref name="keep"/> is null).</summary>
    public static IArrowArray TakeLists(IArrowArray list, ReadOnlySpan<int> rows, byte[]? keep)
    {
        var (offsets, start) = Layout(list);
        if (keep is null)
        {
            return TakeWholeLists(list, rows, offsets, start);
        }

        var newOffsets = new long[rows.Length + 1];
        var total = 0;
        for (var r = 0; r < rows.Length; r++)
        {
            var row = rows[r];
            for (var i = offsets[row]; i < offsets[row + 1]; i++)
            {
                total += keep[i];
            }

            newOffsets[r + 1] = total;
        }

        var source = Values(list);
        var values = source switch
        {
            FloatArray a => Compact(a, rows, offsets, start, keep, total),
            DoubleArray a => Compact(a, rows, offsets, start, keep, total),
            Int32Array a => Compact(a, rows, offsets, start, keep, total),
            UInt32Array a => Compact(a, rows, offsets, start, keep, total),
            Int64Array a => Compact(a, rows, offsets, start, keep, total),
            UInt64Array a => Compact(a, rows, offsets, start, keep, total),
            UInt8Array a => Compact(a, rows, offsets, start, keep, total),
            Int8Array a => Compact(a, rows, offsets, start, keep, total),
            Int16Array a => Compact(a, rows, offsets, start, keep, total),
            UInt16Array a => Compact(a, rows, offsets, start, keep, total),
            _ => Take(source, KeptIndices(rows, offsets, start, keep, total)),
        };
        var elementType = list.Data.DataType switch
        {
            LargeListType large => large.ValueField,
            ListType small => small.ValueField,
            _ => throw new InvalidOperationException(),
        };
        return new LargeListArray(new LargeListType(elementType), rows.Length, new ArrowBuffer(MemoryMarshal.AsBytes(newOffsets.AsSpan()).ToArray()), values, ArrowBuffer.Empty, 0, 0);
    }

    /// <summary>The kept elements of the kept rows, in their own type, straight into the output buffer.</summary>
    private static IArrowArray Compact<T>(PrimitiveArray<T> array, ReadOnlySpan<int> rows, int[] offsets, int start, byte[] keep, int total)
        where T : struct, IEquatable<T>
    {
        var source = array.Values[start..];
        var bytes = new byte[total * Marshal.SizeOf<T>()];
        var target = MemoryMarshal.Cast<byte, T>(bytes.AsSpan());
        var k = 0;
        for (var r = 0; r < rows.Length && k < total; r++)
        {
            var end = offsets[rows[r] + 1];
            for (var i = offsets[rows[r]]; i < end && k < total; i++)
            {
                target[k] = source[i];
                k += keep[i]; // written always, counted when kept: no branch to mispredict
            }
        }

        var data = new ArrayData(array.Data.DataType, total, 0, 0, [ArrowBuffer.Empty, new ArrowBuffer(bytes)]);
        return ArrowArrayFactory.BuildArray(data);
    }

    private static int[] KeptIndices(ReadOnlySpan<int> rows, int[] offsets, int start, byte[] keep, int total)
    {
        var indices = new int[total];
        var k = 0;
        foreach (var row in rows)
        {
            for (var i = offsets[row]; i < offsets[row + 1]; i++)
            {
                if (keep[i] != 0)
                {
                    indices[k++] = start + i;
                }
            }
        }

        return indices;
    }

    /// <summary>Whole lists of the kept rows: their values copied a run at a time, not element by element.</summary>
    private static LargeListArray TakeWholeLists(IArrowArray list, ReadOnlySpan<int> rows, int[] offsets, int start)
    {
        var newOffsets = new long[rows.Length + 1];
        var ranges = new List<(int Start, int Length)>(rows.Length);
        for (var r = 0; r < rows.Length; r++)
        {
            var from = offsets[rows[r]];
            var length = offsets[rows[r] + 1] - from;
            newOffsets[r + 1] = newOffsets[r] + length;
            if (ranges.Count > 0 && ranges[^1].Start + ranges[^1].Length == start + from)
            {
                ranges[^1] = (ranges[^1].Start, ranges[^1].Length + length); // consecutive rows: one run
            }
            else if (length > 0)
            {
                ranges.Add((start + from, length));
            }
        }

        var source = Values(list);
        var total = (int)newOffsets[^1];
        IArrowArray values = source switch
        {
            FloatArray a => CopyRanges(a, ranges, total),
            DoubleArray a => CopyRanges(a, ranges, total),
            Int32Array a => CopyRanges(a, ranges, total),
            UInt32Array a => CopyRanges(a, ranges, total),
            Int64Array a => CopyRanges(a, ranges, total),
            UInt64Array a => CopyRanges(a, ranges, total),
            UInt8Array a => CopyRanges(a, ranges, total),
            Int8Array a => CopyRanges(a, ranges, total),
            Int16Array a => CopyRanges(a, ranges, total),
            UInt16Array a => CopyRanges(a, ranges, total),
            _ => Take(source, Expand(ranges, total)),
        };
        var elementType = list.Data.DataType switch
        {
            LargeListType large => large.ValueField,
            ListType small => small.ValueField,
            _ => throw new InvalidOperationException(),
        };
        return new LargeListArray(new LargeListType(elementType), rows.Length, new ArrowBuffer(MemoryMarshal.AsBytes(newOffsets.AsSpan()).ToArray()), values, ArrowBuffer.Empty, 0, 0);
    }

    private static int[] Expand(List<(int Start, int Length)> ranges, int total)
    {
        var indices = new int[total];
        var k = 0;
        foreach (var (from, length) in ranges)
        {
            for (var i = 0; i < length; i++)
            {
                indices[k++] = from + i;
            }
        }

        return indices;
    }

    private static IArrowArray CopyRanges<T>(PrimitiveArray<T> array, List<(int Start, int Length)> ranges, int total)
        where T : struct, IEquatable<T>
    {
        var source = array.Values;
        var bytes = new byte[total * Marshal.SizeOf<T>()];
        var target = MemoryMarshal.Cast<byte, T>(bytes.AsSpan());
        var at = 0;
        foreach (var (from, length) in ranges)
        {
            source.Slice(from, length).CopyTo(target[at..]);
            at += length;
        }

        var data = new ArrayData(array.Data.DataType, total, 0, 0, [ArrowBuffer.Empty, new ArrowBuffer(bytes)]);
        return ArrowArrayFactory.BuildArray(data);
    }

    /// <summary>The first <paramref name="count"/> computed values (one per kept event), as an Arrow array of their type.</summary>
    public static IArrowArray FromValues(System.Array values, int count) => values switch
    {
        double[] d => Primitive(d.AsSpan(0, count), DoubleType.Default),
        float[] f => Primitive(f.AsSpan(0, count), FloatType.Default),
        long[] l => Primitive(l.AsSpan(0, count), Int64Type.Default),
        bool[] b => Booleans(b.AsSpan(0, count)),
        _ => throw new ArgumentException($"{values.GetType().Name} is not an output type.", nameof(values)),
    };

    private static IArrowArray Primitive<T>(ReadOnlySpan<T> values, IArrowType type)
        where T : struct
    {
        var data = new ArrayData(type, values.Length, 0, 0, [ArrowBuffer.Empty, new ArrowBuffer(MemoryMarshal.AsBytes(values).ToArray())]);
        return ArrowArrayFactory.BuildArray(data);
    }

    private static BooleanArray Booleans(ReadOnlySpan<bool> values)
    {
        var bits = new byte[(values.Length + 7) / 8];
        for (var i = 0; i < values.Length; i++)
        {
            if (values[i])
            {
                bits[i >> 3] |= (byte)(1 << (i & 7));
            }
        }

        return new BooleanArray(new ArrowBuffer(bits), ArrowBuffer.Empty, values.Length, 0, 0);
    }

    /// <summary>Computed per-object values (a list per kept event) as a large-list column.</summary>
    public static IArrowArray FromLists<T>(ReadOnlySpan<T> values, ReadOnlySpan<long> offsets)
        where T : struct
    {
        IArrowArray elements = true switch
        {
            _ when typeof(T) == typeof(double) => Primitive(MemoryMarshal.Cast<T, double>(values), DoubleType.Default),
            _ when typeof(T) == typeof(float) => Primitive(MemoryMarshal.Cast<T, float>(values), FloatType.Default),
            _ when typeof(T) == typeof(bool) => Booleans(MemoryMarshal.Cast<T, bool>(values)),
            _ => throw new ArgumentException($"{typeof(T).Name} is not an output type.", nameof(values)),
        };
        var type = new LargeListType(new Field("element", elements.Data.DataType, nullable: false));
        return new LargeListArray(type, offsets.Length - 1, new ArrowBuffer(MemoryMarshal.AsBytes(offsets).ToArray()), elements, ArrowBuffer.Empty, 0, 0);
    }
}

