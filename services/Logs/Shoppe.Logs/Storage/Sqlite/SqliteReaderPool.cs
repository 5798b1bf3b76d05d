using System.Collections.Concurrent;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Shoppe.Logs.Storage.Sqlite;

/// <summary>
/// The store's own open readers, each on the records with the text index attached. Kept open rather than
/// pooled by Microsoft.Data.Sqlite: a connection's page cache is what makes a long request's read fast, and
/// re-applying the pragmas to a pooled connection threw it away (docs/performance.md, "Logs": readers keep
/// their connections). Each keeps its prepared statements too (<see cref="StatementCache"/>). Readers never
/// block the writers (WAL).
/// </summary>
internal sealed class SqliteReaderPool(SqliteStoreFiles files) : IDisposable
{
    /// <summary>The most idle readers kept open.</summary>
    private const int MaxIdleReaders = 16;

    private readonly ConcurrentBag<Reader> _readers = [];

    private volatile bool _disposed;

    /// <summary>A reader for one query; disposing the lease gives it back.</summary>
    public Lease Rent() => new(this, _readers.TryTake(out var reader) ? reader : new Reader(files.OpenReader()));

    /// <summary>A rented reader; a struct, so renting allocates nothing.</summary>
    public readonly struct Lease : IDisposable
    {
        private readonly SqliteReaderPool _pool;
        private readonly Reader _reader;

        internal Lease(SqliteReaderPool pool, Reader reader)
        {
            _pool = pool;
            _reader = reader;
        }

        public SqliteConnection Connection => _reader.Connection;

        /// <summary>The statements prepared on this reader by earlier queries.</summary>
        public StatementCache Statements => _reader.Statements;

        public void Dispose() => _pool.Return(_reader);
    }

    /// <summary>An open reader and the statements prepared on it.</summary>
    internal sealed class Reader(SqliteConnection connection) : IDisposable
    {
        public SqliteConnection Connection { get; } = connection;

        public StatementCache Statements { get; } = new(connection);

        public void Dispose()
        {
            // Statements first: a connection does not close while statements of it are open.
            Statements.Dispose();
            Connection.Dispose();
        }
    }

    private void Return(Reader reader)
    {
        if (_readers.Count < MaxIdleReaders && !_disposed)
        {
            _readers.Add(reader);
        }
        else
        {
            reader.Dispose();
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

/// <summary>
/// Statements prepared on one reader, kept for the next query of the same text. Finding a request's tree
/// (<see cref="TreeMembers"/>) added a second statement to every page, and preparing it cost a small first page
/// about as much as running it: kept, it adds only its two index seeks. Used by one query at a time, as its reader
/// is; a statement given back is reset, so it holds no read snapshot while it waits.
/// </summary>
internal sealed class StatementCache(SqliteConnection connection) : IDisposable
{
    /// <summary>
    /// The most statements kept: the queries' shapes (which filters a reader sets) are few in practice, and a
    /// shape seen once more after being dropped costs only its preparation.
    /// </summary>
    private const int MaxKept = 32;

    private readonly Dictionary<string, sqlite3_stmt> _idle = new(StringComparer.Ordinal);

    /// <summary>A statement of <paramref name="sql"/>, kept or newly prepared; give it back with <see cref="Return"/>.</summary>
    public sqlite3_stmt Rent(string sql) => _idle.Remove(sql, out var kept) ? kept : SqliteStatements.Prepare(connection, sql);

    /// <summary>Resets <paramref name="statement"/> and keeps it for the next query of <paramref name="sql"/> (one of each is kept).</summary>
    public void Return(string sql, sqlite3_stmt statement)
    {
        raw.sqlite3_reset(statement);
        raw.sqlite3_clear_bindings(statement);
        if (_idle.ContainsKey(sql))
        {
            statement.Dispose();
            return;
        }

        if (_idle.Count >= MaxKept)
        {
            // Any one goes: the shapes in use come back at once.
            foreach (var (text, old) in _idle)
            {
                old.Dispose();
                _idle.Remove(text);
                break;
            }
        }

        _idle.Add(sql, statement);
    }

    public void Dispose()
    {
        foreach (var statement in _idle.Values)
        {
            statement.Dispose();
        }

        _idle.Clear();
    }
}
