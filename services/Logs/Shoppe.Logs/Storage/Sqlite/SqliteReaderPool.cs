using System.Collections.Concurrent;
using Microsoft.Data.Sqlite;

namespace Shoppe.Logs.Storage.Sqlite;

/// <summary>
/// The store's own open readers, each on the records with the text index attached. Kept open rather than
/// pooled by Microsoft.Data.Sqlite: a connection's page cache is what makes a long request's read fast, and
/// re-applying the pragmas to a pooled connection threw it away (docs/performance.md, "Logs": readers keep
/// their connections). Readers never block the writers (WAL).
/// </summary>
internal sealed class SqliteReaderPool(SqliteStoreFiles files) : IDisposable
{
    /// <summary>The most idle readers kept open.</summary>
    private const int MaxIdleReaders = 16;

    private readonly ConcurrentBag<SqliteConnection> _readers = [];

    private volatile bool _disposed;

    /// <summary>A reader for one query; disposing the lease gives it back.</summary>
    public Lease Rent() => new(this, _readers.TryTake(out var connection) ? connection : files.OpenReader());

    /// <summary>A rented reader; a struct, so renting allocates nothing.</summary>
    public readonly struct Lease(SqliteReaderPool pool, SqliteConnection connection) : IDisposable
    {
        public SqliteConnection Connection => connection;

        public void Dispose() => pool.Return(connection);
    }

    private void Return(SqliteConnection connection)
    {
        if (_readers.Count < MaxIdleReaders && !_disposed)
        {
            _readers.Add(connection);
        }
        else
        {
            connection.Dispose();
        }
    }

    /// <summary>Closes the idle readers; a reader given back later is closed then.</summary>
    public void Dispose()
    {
        _disposed = true;
        while (_readers.TryTake(out var reader))
        {
            reader.Dispose();
        }
    }
}
