using System.Buffers;
using Apache.Arrow.Memory;

namespace Shoppe.Pushdown.Client;

/// <summary>
/// The memory a scan's batches are read into: managed arrays rented from the shared pool and given back when a
/// batch is disposed. Arrow's default allocator takes native memory and reports it to the garbage collector as
/// pressure, which on a stream of batches sets off a full collection every few megabytes (measured: nine per
/// 40 MB scan, most of the client's CPU for it); pooled arrays are reused from batch to batch and cost no
/// collection at all. A batch the caller forgets to dispose is collected like any array.
/// </summary>
public sealed class PooledAllocator : MemoryAllocator
{
    /// <summary>The one instance; it holds no state of its own.</summary>
    public static PooledAllocator Shared { get; } = new();

    private PooledAllocator()
        : base(alignment: 64)
    {
    }

    protected override IMemoryOwner<byte> AllocateInternal(int length, out int bytesAllocated)
    {
        var owner = new Rented(ArrayPool<byte>.Shared.Rent(length), length);
        bytesAllocated = length;
        return owner;
    }

    /// <summary>One rented array, returned once.</summary>
    private sealed class Rented(byte[] array, int length) : IMemoryOwner<byte>
    {
        private byte[]? _array = array;

        public Memory<byte> Memory => _array is { } array ? array.AsMemory(0, length) : throw new ObjectDisposedException(nameof(PooledAllocator));

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _array, null) is { } array)
            {
                ArrayPool<byte>.Shared.Return(array);
            }
        }
    }
}
