using System.Numerics.Tensors;
using Apache.Arrow;

namespace Shoppe.Columnar.Selection;

/// <summary>
/// Fills a <see cref="Frame"/> from a record batch: each column the query reads copied into a pooled array of its
/// own type (float stays float), each collection's offsets (checked to agree between its columns), and the
/// four-vectors of the collections whose objects are summed, computed a vector at a time.
/// </summary>
internal static class BatchLoader
{
    /// <summary>Loads the columns marked in <paramref name="loaded"/>; every collection's offsets come from any of its columns.</summary>
    public static void Load(Frame frame, RecordBatch batch, IReadOnlyList<string> slots, bool[] loaded, Catalog catalog)
    {
        for (var slot = 0; slot < slots.Count; slot++)
        {
            var name = slots[slot];
            var array = batch.Column(name) ?? throw new ColumnarDataException($"The batch has no column {name}.");
            var info = catalog.Columns[name];
            if (!info.IsList)
            {
                if (loaded[slot])
                {
                    frame.Columns[slot] = Values(frame, array, 0, array.Length, info.ValueType);
                }

                continue;
            }

            var collection = catalog.Collection(info.Collection)!;
            var offsets = frame.Offsets[collection.Id];
            int start;
            if (offsets is null)
            {
                (offsets, start) = ArrowColumns.Layout(array, frame.Rent<int>(array.Length + 1));
                frame.Offsets[collection.Id] = offsets;
            }
            else
            {
                start = ArrowColumns.EnsureLayout(array, offsets);
            }

            if (loaded[slot])
            {
                frame.Columns[slot] = Values(frame, ArrowColumns.Values(array), start, offsets[array.Length], info.ValueType);
            }
        }

        foreach (var collection in catalog.FourVectors)
        {
            FourVectors(frame, collection, slots);
        }
    }

    /// <summary><paramref name="count"/> values from <paramref name="start"/>, in the column's own type (nulls: NaN, or false).</summary>
    private static System.Array Values(Frame frame, IArrowArray array, int start, int count, Type type)
    {
        if (type == typeof(double) && array is not DoubleArray)
        {
            // An integer column that can hold nulls: read as double, nulls as NaN.
            var widened = frame.Rent<double>(count);
            ArrowColumns.ToDoubles(array, start, count).CopyTo(widened, 0);
            return widened;
        }

        return array switch
        {
            FloatArray a => Copy(frame, a, start, count, float.NaN),
            DoubleArray a => Copy(frame, a, start, count, double.NaN),
            Int32Array a => Copy(frame, a, start, count, 0),
            UInt32Array a => Copy(frame, a, start, count, 0u),
            Int64Array a => Copy(frame, a, start, count, 0L),
            UInt64Array a => Copy(frame, a, start, count, 0ul),
            UInt8Array a => Copy(frame, a, start, count, (byte)0),
            Int8Array a => Copy(frame, a, start, count, (sbyte)0),
            Int16Array a => Copy(frame, a, start, count, (short)0),
            UInt16Array a => Copy(frame, a, start, count, (ushort)0),
            BooleanArray a => Booleans(frame, a, start, count),
            _ => throw new ColumnarDataException($"Arrow type {array.Data.DataType.Name} cannot be computed on."),
        };
    }

    private static T[] Copy<T>(Frame frame, PrimitiveArray<T> array, int start, int count, T missing)
        where T : struct, IEquatable<T>
    {
        var values = frame.Rent<T>(count);
        array.Values.Slice(start, count).CopyTo(values);
        if (array.NullCount > 0)
        {
            for (var i = 0; i < count; i++)
            {
                if (array.IsNull(start + i))
                {
                    values[i] = missing;
                }
            }
        }

        return values;
    }

    private static bool[] Booleans(Frame frame, BooleanArray array, int start, int count)
    {
        var values = frame.Rent<bool>(count);
        for (var i = 0; i < count; i++)
        {
            values[i] = array.GetValue(start + i) == true;
        }

        return values;
    }

    /// <summary>px, py, pz, E of every object of a collection in the batch, in double precision, a vector at a time.</summary>
    private static void FourVectors(Frame frame, Collection collection, IReadOnlyList<string> slots)
    {
        var count = frame.Offsets[collection.Id][frame.Events];
        Span<double> Column(string field)
        {
            var values = frame.Columns[IndexOf(slots, collection.Name + "_" + field)];
            if (values is double[] doubles)
            {
                return doubles.AsSpan(0, count);
            }

            var widened = frame.Rent<double>(count).AsSpan(0, count);
            switch (values)
            {
                case float[] floats: TensorPrimitives.ConvertTruncating<float, double>(floats.AsSpan(0, count), widened); break;
                case int[] ints: TensorPrimitives.ConvertTruncating<int, double>(ints.AsSpan(0, count), widened); break;
                default: throw new ColumnarDataException($"{collection.Name}_{field} cannot be read as a number.");
            }

            return widened;
        }

        var pt = Column("pt");
        var eta = Column("eta");
        var phi = Column("phi");
        var mass = Column("mass");
        var px = frame.Rent<double>(count);
        var py = frame.Rent<double>(count);
        var pz = frame.Rent<double>(count);
        var energy = frame.Rent<double>(count);
        var x = px.AsSpan(0, count);
        var y = py.AsSpan(0, count);
        var z = pz.AsSpan(0, count);
        var e = energy.AsSpan(0, count);
        TensorPrimitives.Cos(phi, x);
        TensorPrimitives.Multiply(pt, x, x);
        TensorPrimitives.Sin(phi, y);
        TensorPrimitives.Multiply(pt, y, y);
        TensorPrimitives.Sinh(eta, z);
        TensorPrimitives.Multiply(pt, z, z);
        // E = sqrt(px² + py² + pz² + m²), summed in that order as a scalar loop would.
        TensorPrimitives.Multiply(x, x, e);
        TensorPrimitives.MultiplyAdd(y, y, e, e);
        TensorPrimitives.MultiplyAdd(z, z, e, e);
        TensorPrimitives.MultiplyAdd(mass, mass, e, e);
        TensorPrimitives.Sqrt(e, e);
        var at = collection.Id * 4;
        frame.FourVectors[at] = px;
        frame.FourVectors[at + 1] = py;
        frame.FourVectors[at + 2] = pz;
        frame.FourVectors[at + 3] = energy;
    }

    private static int IndexOf(IReadOnlyList<string> slots, string name)
    {
        for (var i = 0; i < slots.Count; i++)
        {
            if (slots[i] == name)
            {
                return i;
            }
        }

        throw new InvalidOperationException($"{name} is not among the columns read.");
    }
}
