using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Shoppe.Logs.Storage.Sqlite;

/// <summary>
/// Prepared statements on SQLite's own statement API (SQLitePCLRaw), for the store's hot paths: the writer's
/// inserts and the readers' row loops. The ADO.NET parameter and data-reader layers cost more per row than
/// SQLite's own work did (docs/performance.md, "Logs"), so those paths bind and read columns here instead.
/// </summary>
internal static class SqliteStatements
{
    /// <summary>Prepares <paramref name="sql"/> on <paramref name="connection"/>; the caller disposes it.</summary>
    public static sqlite3_stmt Prepare(SqliteConnection connection, string sql)
    {
        var db = connection.Handle!;
        var rc = raw.sqlite3_prepare_v2(db, sql, out var statement);
        if (rc != raw.SQLITE_OK)
        {
            statement.Dispose();
            SqliteException.ThrowExceptionForRC(rc, db);
        }

        return statement;
    }

    /// <summary>Binds text as UTF-16 for SQLite to convert: no UTF-8 copy made in .NET for every value.</summary>
    public static void BindOptional(sqlite3_stmt statement, int index, string? value, sqlite3 db) =>
        Check(value is null ? raw.sqlite3_bind_null(statement, index) : raw.sqlite3_bind_text16(statement, index, value.AsSpan()), db);

    /// <summary>Throws SQLite's error for <paramref name="rc"/> unless it is <c>SQLITE_OK</c>.</summary>
    public static void Check(int rc, sqlite3 db)
    {
        if (rc != raw.SQLITE_OK)
        {
            SqliteException.ThrowExceptionForRC(rc, db);
        }
    }
}
