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

        return type switch
        {
            BooleanType => new ColumnInfo(field.Name, isList, IsBool: true),
            FloatType or DoubleType or HalfFloatType or Int8Type or Int16Type or Int32Type or Int64Type
                or UInt8Type or UInt16Type or UInt32Type or UInt64Type => new ColumnInfo(field.Name, isList, IsBool: false),
            _ => null,
        };
    }

    /// <summary>The per-event list layout of a list array: offsets from 0, and where its values start in the child array.</summary>
    public static (int[] Offsets, int Start) Layout(IArrowArray array)
    {
        // Every entry is written below: no need to zero (these arrays are large and made per batch).
        var offsets = GC.AllocateUninitializedArray<int>(array.Length + 1);
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
    public static IArrowArray TakeLists(IArrowArray list, ReadOnlySpan<int> rows, double[]? keep)
    {
        var (offsets, start) = Layout(list);
        if (keep is null)
        {
            return TakeWholeLists(list, rows, offsets, start);
        }

        var elements = new List<int>();
        var newOffsets = new long[rows.Length + 1];
        for (var r = 0; r < rows.Length; r++)
        {
            var row = rows[r];
            for (var i = offsets[row]; i < offsets[row + 1]; i++)
            {
                if (keep is null || keep[i] != 0)
                {
                    elements.Add(start + i);
                }
            }

            newOffsets[r + 1] = elements.Count;
        }

        var values = Take(Values(list), CollectionsMarshal.AsSpan(elements));
        var elementType = list.Data.DataType switch
        {
            LargeListType large => large.ValueField,
            ListType small => small.ValueField,
            _ => throw new InvalidOperationException(),
        };
        return new LargeListArray(new LargeListType(elementType), rows.Length, new ArrowBuffer(MemoryMarshal.AsBytes(newOffsets.AsSpan()).ToArray()), values, ArrowBuffer.Empty, 0, 0);
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

    /// <summary>Computed per-event values of the kept rows.</summary>
    public static IArrowArray FromEvents(double[] values, ReadOnlySpan<int> rows, OutputType type)
    {
        switch (type)
        {
            case OutputType.Bool:
            {
                var builder = new BooleanArray.Builder().Reserve(rows.Length);
                foreach (var r in rows)
                {
                    builder.Append(values[r] != 0);
                }

                return builder.Build();
            }

            case OutputType.Count:
            {
                var builder = new Int64Array.Builder().Reserve(rows.Length);
                foreach (var r in rows)
                {
                    builder.Append((long)values[r]);
                }

                return builder.Build();
            }

            default:
            {
                var builder = new DoubleArray.Builder().Reserve(rows.Length);
                foreach (var r in rows)
                {
                    builder.Append(values[r]);
                }

                return builder.Build();
            }
        }
    }

    /// <summary>Computed per-object values of the kept rows, as a list column.</summary>
    public static IArrowArray FromJagged(Vec vec, ReadOnlySpan<int> rows, OutputType type)
    {
        var offsets = vec.Offsets!;
        var newOffsets = new long[rows.Length + 1];
        var elements = new List<int>();
        for (var r = 0; r < rows.Length; r++)
        {
            for (var i = offsets[rows[r]]; i < offsets[rows[r] + 1]; i++)
            {
                elements.Add(i);
            }

            newOffsets[r + 1] = elements.Count;
        }

        IArrowArray values = FromEvents(vec.Values, CollectionsMarshal.AsSpan(elements), type);
        var elementType = new Field("element", values.Data.DataType, nullable: false);
        return new LargeListArray(new LargeListType(elementType), rows.Length, new ArrowBuffer(MemoryMarshal.AsBytes(newOffsets.AsSpan()).ToArray()), values, ArrowBuffer.Empty, 0, 0);
    }
}

/// <summary>The Arrow type a computed column is written as.</summary>
internal enum OutputType
{
    Double,
    Bool,
    Count,
}
