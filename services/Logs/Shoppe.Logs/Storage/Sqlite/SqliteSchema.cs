using System.Globalization;

namespace Shoppe.Logs.Storage.Sqlite;

/// <summary>
/// The layout of the store's two files, created or migrated when the store opens. Requests are numbered as
/// they first arrive and records carry the number, not the 32-character id: the index entries are a fifth of
/// the size (docs/performance.md, "Logs"). The layout is versioned (<c>PRAGMA user_version</c>) so that an
/// older release refuses a store it cannot read rather than damaging it.
/// </summary>
internal static class SqliteSchema
{
    /// <summary>The layout this code writes (<c>PRAGMA user_version</c>); 0 is the first layout, migrated on open.</summary>
    private const int LayoutVersion = 2;

    private const string Schema = """
        PRAGMA journal_mode = WAL;
        CREATE TABLE IF NOT EXISTS requests (
            key INTEGER PRIMARY KEY,
            request_id TEXT NOT NULL UNIQUE,
            owner TEXT,
            finished INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE IF NOT EXISTS records (
            id INTEGER PRIMARY KEY,
            request INTEGER NOT NULL,
            ts INTEGER NOT NULL,
            service TEXT NOT NULL,
            severity INTEGER NOT NULL,
            message TEXT NOT NULL,
            attributes TEXT,
            trace_id TEXT,
            span_id TEXT,
            enduser TEXT
        );
        CREATE INDEX IF NOT EXISTS records_of_request ON records (request, ts);
        """;

    /// <summary>
    /// The text index's own file: a contentless FTS5 table (the messages live in the records file) and how
    /// far it has got. Records up to <c>indexed_up_to</c> are in it. No per-row sizes are kept
    /// (<c>columnsize=0</c>): they serve only relevance ranking, which log search does not do, and keeping them
    /// cost the index writer 30% of its rate (docs/performance.md, "Logs").
    /// </summary>
    private const string TextSchema = """
        PRAGMA journal_mode = WAL;
        CREATE VIRTUAL TABLE IF NOT EXISTS records_fts USING fts5 (message, content = '', columnsize = 0);
        CREATE TABLE IF NOT EXISTS text_state (indexed_up_to INTEGER NOT NULL);
        INSERT INTO text_state SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM text_state);
        """;

    /// <summary>
    /// The first layout (records keyed by the request id text, the text index inside the records file) is
    /// rewritten into the current one on open: every record and owner is kept, the text index is rebuilt.
    /// </summary>
    private const string MigrateFromFirstLayout = """
        CREATE TABLE requests (key INTEGER PRIMARY KEY, request_id TEXT NOT NULL UNIQUE, owner TEXT, finished INTEGER NOT NULL DEFAULT 0);
        INSERT INTO requests (request_id, owner, finished) SELECT request_id, owner, finished FROM request_owners;
        INSERT OR IGNORE INTO requests (request_id) SELECT DISTINCT request_id FROM records;
        ALTER TABLE records RENAME TO records_v1;
        CREATE TABLE records (id INTEGER PRIMARY KEY, request INTEGER NOT NULL, ts INTEGER NOT NULL, service TEXT NOT NULL,
            severity INTEGER NOT NULL, message TEXT NOT NULL, attributes TEXT, trace_id TEXT, span_id TEXT, enduser TEXT);
        INSERT INTO records SELECT r.id, q.key, r.ts, r.service, r.severity, r.message, r.attributes, r.trace_id, r.span_id, r.enduser
            FROM records_v1 r JOIN requests q ON q.request_id = r.request_id ORDER BY r.id;
        DROP TABLE records_v1;
        DROP TABLE IF EXISTS records_fts;
        DROP TABLE IF EXISTS text_index;
        DROP TABLE request_owners;
        """;

    /// <summary>Creates the records file's layout, or migrates an older one; refuses a newer one.</summary>
    /// <returns>The last record id stored.</returns>
    public static long OpenRecords(SqliteStoreFiles files)
    {
        using var connection = files.OpenRecords();
        var version = Convert.ToInt32(SqliteStoreFiles.Scalar(connection, "PRAGMA user_version"), CultureInfo.InvariantCulture);
        if (version > LayoutVersion)
        {
            throw new InvalidOperationException($"The log store {files.RecordsPath} has layout {version}, newer than this logs service knows ({LayoutVersion}); run the newer release.");
        }

        if (version == 0 && SqliteStoreFiles.Scalar(connection, "SELECT count(*) FROM sqlite_master WHERE name = 'request_owners'") is long and > 0)
        {
            using var tx = connection.BeginTransaction();
            SqliteStoreFiles.Execute(connection, MigrateFromFirstLayout, tx);
            tx.Commit();
        }

        SqliteStoreFiles.Execute(connection, Schema);
        SqliteStoreFiles.Execute(connection, $"PRAGMA user_version = {LayoutVersion}");
        return (long)SqliteStoreFiles.Scalar(connection, "SELECT coalesce(max(id), 0) FROM records")!;
    }

    /// <summary>Creates the text index's layout if it is not there.</summary>
    /// <returns>The last record id in the text index.</returns>
    public static long OpenTextIndex(SqliteStoreFiles files)
    {
        using var text = files.OpenText();
        SqliteStoreFiles.Execute(text, TextSchema);
        return (long)SqliteStoreFiles.Scalar(text, "SELECT indexed_up_to FROM text_state")!;
    }
}
