using Microsoft.Data.Sqlite;

namespace Shoppe.Logs.Storage.Sqlite;

/// <summary>
/// The store's two files (the records, and the text index beside them) and how each part of the store opens
/// them: every connection gets the same pragmas, and the readers and the text index's writer see both files
/// at once through <c>ATTACH</c>. Kept in one place because the pragmas are what the store's durability and
/// read speed rest on.
/// </summary>
internal sealed class SqliteStoreFiles
{
    private readonly string _recordsConnectionString;
    private readonly string _textConnectionString;

    /// <summary>Names the files of the store at <paramref name="path"/>, creating its folder if needed.</summary>
    public SqliteStoreFiles(string path)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        RecordsPath = path;
        RecordsFile = full;
        TextIndexFile = Path.ChangeExtension(full, ".text.db");
        _recordsConnectionString = ConnectionString(path);
        _textConnectionString = ConnectionString(TextIndexFile);
    }

    /// <summary>The records file as the store was given it.</summary>
    public string RecordsPath { get; }

    /// <summary>The records file's full path (what the text index's writer attaches).</summary>
    public string RecordsFile { get; }

    /// <summary>The text index's file, beside the records.</summary>
    public string TextIndexFile { get; }

    /// <summary>A connection to the records alone (the writer, the schema).</summary>
    public SqliteConnection OpenRecords() => Open(_recordsConnectionString);

    /// <summary>A connection to the text index alone (its schema).</summary>
    public SqliteConnection OpenText() => Open(_textConnectionString);

    /// <summary>A connection to the records with the text index attached as <c>text</c>.</summary>
    public SqliteConnection OpenReader() => OpenAttached(_recordsConnectionString, TextIndexFile, "text");

    /// <summary>A connection to the text index with the records attached as <c>store</c>.</summary>
    public SqliteConnection OpenTextWriter() => OpenAttached(_textConnectionString, RecordsFile, "store");

    /// <summary>Runs <paramref name="sql"/> for its effect.</summary>
    public static void Execute(SqliteConnection connection, string sql, SqliteTransaction? tx = null)
    {
        using var cmd = connection.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    /// <summary>Runs <paramref name="sql"/> for its first value.</summary>
    public static object? Scalar(SqliteConnection connection, string sql)
    {
        using var cmd = connection.CreateCommand();
        cmd.CommandText = sql;
        return cmd.ExecuteScalar();
    }

    private static string ConnectionString(string path) => new SqliteConnectionStringBuilder
    {
        DataSource = path,
        Mode = SqliteOpenMode.ReadWriteCreate,
        // The store keeps its own open readers (SqliteReaderPool): a connection's page cache is what makes a
        // long request's read fast, and re-applying the pragmas to a pooled connection threw it away
        // (a 10k-record read: 35 ms against 14 ms on a kept connection; docs/performance.md, "Logs").
        Pooling = false,
    }.ToString();

    /// <summary>Opens one of the store's files with the other attached under <paramref name="alias"/>.</summary>
    private static SqliteConnection OpenAttached(string connectionString, string other, string alias)
    {
        var connection = Open(connectionString);
        try
        {
            using var attach = connection.CreateCommand();
            attach.CommandText = $"ATTACH DATABASE $path AS {alias}";
            attach.Parameters.AddWithValue("$path", other);
            attach.ExecuteNonQuery();
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    private static SqliteConnection Open(string connectionString)
    {
        var connection = new SqliteConnection(connectionString);
        connection.Open();
        // Per connection: FULL makes each commit durable before the writer acknowledges the batch.
        // 64 MiB of page cache: the request index takes inserts all over its live end, and SQLite's default
        // 2 MiB cache made ingest fall off once the index outgrew it (docs/performance.md, "Logs").
        Execute(connection, "PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000; PRAGMA cache_size = -65536; PRAGMA wal_autocheckpoint = 16384; PRAGMA mmap_size = 4294967296;");
        return connection;
    }
}
