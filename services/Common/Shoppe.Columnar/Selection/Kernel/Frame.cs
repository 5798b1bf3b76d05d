using System.Buffers;

namespace Shoppe.Columnar.Selection;

/// <summary>
/// One batch as the compiled kernel sees it: every column it reads as an array of the column's own type, each
/// collection's per-event offsets, the four-vectors of the collections it sums, and the outputs it writes. Arrays
/// come from the shared pools and go back when the batch is done (<see cref="Dispose"/>): a batch allocates only
/// what it hands on (its output columns).
/// </summary>
internal sealed class Frame(int columns, int collections, int eventOutputs, int masks, int lists) : IDisposable
{
    private readonly List<Action> _returns = [];

#pragma warning disable CA1051, SA1401 // read and written by generated code, which reaches fields most simply
    public int Events;
    public readonly Array[] Columns = new Array[columns];
    public readonly int[][] Offsets = new int[collections][];
    public readonly double[][] FourVectors = new double[collections * 4][];
    public int[] Rows = [];
    public readonly Array[] Values = new Array[eventOutputs];
    public readonly byte[][] Keeps = new byte[masks][];
    public readonly IListBuilder[] Lists = new IListBuilder[lists];
#pragma warning restore CA1051, SA1401

    /// <summary>An array of at least <paramref name="length"/> from the pool, returned with the frame.</summary>
    public T[] Rent<T>(int length)
    {
        var array = ArrayPool<T>.Shared.Rent(Math.Max(1, length));
        _returns.Add(() => ArrayPool<T>.Shared.Return(array));
        return array;
    }

    /// <summary>A pooled array of <paramref name="type"/> (double, float, bool or long), returned with the frame.</summary>
    public System.Array Rent(Type type, int length) =>
        type == typeof(float) ? Rent<float>(length)
        : type == typeof(bool) ? Rent<bool>(length)
        : type == typeof(long) ? Rent<long>(length)
        : Rent<double>(length);

    public void Dispose()
    {
        foreach (var list in Lists)
        {
            (list as IDisposable)?.Dispose();
        }

        foreach (var give in _returns)
        {
            give();
        }

        _returns.Clear();
    }
}

/// <summary>A per-object output being written: values event by event.</summary>
internal interface IListBuilder
{
    int Rows { get; }

    void EndRow();

    Apache.Arrow.IArrowArray Build();
}

/// <summary>A per-object output of <typeparamref name="T"/> (double, float or bool), grown as the kernel adds values; its arrays come from the pool and go back when it is disposed.</summary>
internal sealed class ListBuilder<T>(int rows) : IListBuilder, IDisposable
    where T : struct
{
    private T[] _values = ArrayPool<T>.Shared.Rent(Math.Max(16, rows * 4));
    private int _count;
    private readonly long[] _offsets = Start(ArrayPool<long>.Shared.Rent(rows + 1));

    public int Rows { get; private set; }

    /// <summary>A pooled array holds what its last user left: the first offset is set here, the others as rows end.</summary>
    private static long[] Start(long[] offsets)
    {
        offsets[0] = 0;
        return offsets;
    }

    public void Add(T value)
    {
        if (_count == _values.Length)
        {
            var larger = ArrayPool<T>.Shared.Rent(_values.Length * 2);
            _values.AsSpan(0, _count).CopyTo(larger);
            ArrayPool<T>.Shared.Return(_values);
            _values = larger;
        }

        _values[_count++] = value;
    }

    public void EndRow() => _offsets[++Rows] = _count;

    public Apache.Arrow.IArrowArray Build() => ArrowColumns.FromLists<T>(_values.AsSpan(0, _count), _offsets.AsSpan(0, Rows + 1));

    public void Dispose()
    {
        ArrayPool<T>.Shared.Return(_values);
        ArrayPool<long>.Shared.Return(_offsets);
    }
}
