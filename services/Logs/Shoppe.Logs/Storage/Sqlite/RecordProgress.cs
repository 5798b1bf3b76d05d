namespace Shoppe.Logs.Storage.Sqlite;

/// <summary>
/// How far the two writers have got, by record id: the records' writer moves <see cref="CommittedUpTo"/>, the
/// text index's writer follows it with <see cref="IndexedUpTo"/>. Its own object because each writer reads
/// the other's mark and neither should hold the other to do so.
/// </summary>
internal sealed class RecordProgress
{
    private long _committedUpTo;
    private long _indexedUpTo;

    /// <summary>Starts from what the two files hold when the store opens.</summary>
    public RecordProgress(long committedUpTo, long indexedUpTo)
    {
        // Ids are never reused, even when retention has emptied the store: the text index may still hold them.
        _committedUpTo = Math.Max(committedUpTo, indexedUpTo);
        _indexedUpTo = indexedUpTo;
    }

    /// <summary>The last record id whose transaction has committed.</summary>
    public long CommittedUpTo
    {
        get => Volatile.Read(ref _committedUpTo);
        set => Volatile.Write(ref _committedUpTo, value);
    }

    /// <summary>Every record with an id up to this one is in the text index (committed).</summary>
    public long IndexedUpTo
    {
        get => Volatile.Read(ref _indexedUpTo);
        set => Volatile.Write(ref _indexedUpTo, value);
    }
}
