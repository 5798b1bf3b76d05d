using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Shoppe.Logs.Storage.Sqlite;

/// <summary>
/// Retention's work on the store's files (<see cref="RetentionService"/> decides when and with what limits):
/// deletes the oldest records from both files, in bounded chunks so ingest is never blocked for long, with
/// both writers stopped for each chunk so the records and their text entries leave together.
/// </summary>
internal sealed class SqliteRetention(SqliteStoreFiles files, SqliteReaderPool readers, SqliteLogWriter writer, TextIndexer textIndexer, RequestKeys requests)
{
    /// <summary>The most records one deletion takes, so that the writers are stopped only briefly.</summary>
    private const int Chunk = 10_000;

    /// <inheritdoc cref="SqliteLogStore.EnforceRetentionAsync"/>
    public async Task<long> EnforceAsync(long cutoffUnixNano, long maxBytes, CancellationToken cancellationToken)
    {
        long deleted = 0;
        // Records arrive roughly in time order, so age retention works from the oldest arrival and stops at
        // the first young one; a late record with an old time goes when it reaches the head.
        while (!cancellationToken.IsCancellationRequested && await OldestArrivalIsBeforeAsync(cutoffUnixNano, cancellationToken))
        {
            var n = await DeleteOldestAsync(Chunk, cutoffUnixNano, cancellationToken);
            deleted += n;
            if (n < Chunk)
            {
                break;
            }
        }

        // Over the size limit: deleting rows frees space inside pages long before whole pages come free,
        // so the page count is no measure of progress. Estimate the bytes a record takes, delete enough of
        // the oldest to get under the limit, and let the next run correct any misestimate.
        var used = UsedBytes();
        if (used > maxBytes)
        {
            var count = await CountAsync(cancellationToken);
            var toDelete = count == 0 ? 0 : (long)Math.Ceiling((used - maxBytes) / ((double)used / count));
            while (toDelete > 0 && !cancellationToken.IsCancellationRequested)
            {
                var n = await DeleteOldestAsync((int)Math.Min(Chunk, toDelete), long.MaxValue, cancellationToken);
                deleted += n;
                toDelete -= n;
                if (n == 0)
                {
                    break;
                }
            }
        }

        return deleted;
    }

    /// <inheritdoc cref="SqliteLogStore.CountAsync"/>
    public async Task<long> CountAsync(CancellationToken cancellationToken)
    {
        using var lease = readers.Rent();
        var connection = lease.Connection;
        using var cmd = connection.CreateCommand();
        cmd.CommandText = "SELECT count(*) FROM records";
        return Convert.ToInt64(await cmd.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
    }

    /// <inheritdoc cref="SqliteLogStore.UsedBytes"/>
    public long UsedBytes()
    {
        using var lease = readers.Rent();
        var connection = lease.Connection;
        return UsedBytes(connection, "main") + UsedBytes(connection, "text");
    }

    private static long UsedBytes(SqliteConnection connection, string schema)
    {
        long Pragma(string name) => Convert.ToInt64(SqliteStoreFiles.Scalar(connection, $"PRAGMA {schema}.{name}"), CultureInfo.InvariantCulture);
        return (Pragma("page_count") - Pragma("freelist_count")) * Pragma("page_size");
    }

    private async Task<bool> OldestArrivalIsBeforeAsync(long cutoffUnixNano, CancellationToken cancellationToken)
    {
        using var lease = readers.Rent();
        var connection = lease.Connection;
        using var cmd = connection.CreateCommand();
        cmd.CommandText = "SELECT ts FROM records ORDER BY id LIMIT 1";
        return await cmd.ExecuteScalarAsync(cancellationToken) is long ts && ts < cutoffUnixNano;
    }

    private async Task<long> DeleteOldestAsync(int chunk, long beforeUnixNano, CancellationToken cancellationToken)
    {
        // Both writers stop while the oldest records leave both files.
        await writer.PauseAsync(cancellationToken);
        try
        {
            await textIndexer.PauseAsync(cancellationToken);
            try
            {
                using var connection = files.OpenReader();
                using var tx = connection.BeginTransaction();
                using var cmd = connection.CreateCommand();
                cmd.Transaction = tx;
                // Contentless FTS5 rows are removed with the 'delete' command and the values they were
                // indexed with. Each file commits on its own: a text entry left behind by a crash between the
                // two names an id no record has any more, which no query can return.
                cmd.CommandText = """
                    CREATE TEMP TABLE IF NOT EXISTS doomed (id INTEGER PRIMARY KEY, message TEXT, request INTEGER);
                    DELETE FROM doomed;
                    INSERT INTO doomed SELECT id, message, request FROM records WHERE ts < $before ORDER BY id LIMIT $chunk;
                    INSERT INTO text.records_fts (records_fts, rowid, message) SELECT 'delete', id, message FROM doomed
                        WHERE id <= (SELECT indexed_up_to FROM text.text_state);
                    DELETE FROM records WHERE id IN (SELECT id FROM doomed);
                    DELETE FROM requests WHERE key IN (SELECT DISTINCT request FROM doomed)
                        AND NOT EXISTS (SELECT 1 FROM records WHERE records.request = requests.key);
                    SELECT count(*) FROM doomed;
                    """;
                cmd.Parameters.AddWithValue("$before", beforeUnixNano);
                cmd.Parameters.AddWithValue("$chunk", chunk);
                var n = Convert.ToInt64(await cmd.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
                tx.Commit();
                // A request whose records are all gone is forgotten; one that comes back is numbered afresh.
                requests.Forget();
                return n;
            }
            finally
            {
                textIndexer.Resume();
            }
        }
        finally
        {
            writer.Resume();
        }
    }
}
