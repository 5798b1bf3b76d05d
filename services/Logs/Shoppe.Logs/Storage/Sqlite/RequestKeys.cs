using Microsoft.Data.Sqlite;
using SQLitePCL;
using static Shoppe.Logs.Storage.Sqlite.SqliteStatements;

namespace Shoppe.Logs.Storage.Sqlite;

/// <summary>
/// The number each request id is stored under, with its owner and whether it has finished (the
/// <c>requests</c> table). Records carry the number, not the 32-character id (docs/performance.md, "Logs");
/// the owner is who may read the request's records. Used by the records' writer alone, and cleared by
/// retention while that writer is stopped, so it needs no lock.
/// </summary>
internal sealed class RequestKeys
{
    /// <summary>The most requests remembered; past it the memory starts afresh.</summary>
    private const int MaxKnownRequests = 200_000;

    /// <summary>
    /// What the writer knows is stored of each recent request (its number, owner set, finished), so a record
    /// touches the requests table only when something about its request is new. Bounded; forgetting costs
    /// one upsert.
    /// </summary>
    private readonly Dictionary<string, (long Key, bool HasOwner, bool Finished)> _knownRequests = new(StringComparer.Ordinal);

    /// <summary>Prepares the upsert that <see cref="KeyOf"/> runs, on the writer's connection.</summary>
    public static sqlite3_stmt PrepareUpsert(SqliteConnection connection) =>
        // The first user seen becomes the owner and stays so; a request once finished stays finished.
        Prepare(connection, """
            INSERT INTO requests (request_id, owner, finished) VALUES (?1, ?2, ?3)
            ON CONFLICT (request_id) DO UPDATE SET
                owner = coalesce(requests.owner, excluded.owner),
                finished = max(requests.finished, excluded.finished)
            RETURNING key, owner IS NOT NULL, finished
            """);

    /// <summary>
    /// The number of <paramref name="record"/>'s request, storing the request (or what is new about it: an
    /// owner, its end) through <paramref name="upsert"/> when this record tells something not yet known.
    /// </summary>
    public long KeyOf(sqlite3_stmt upsert, sqlite3 db, LogRecordRow record)
    {
        var unattached = record.RequestId.Length == 0;
        if (_knownRequests.TryGetValue(record.RequestId, out var known)
            && (unattached || ((record.EndUser is null || known.HasOwner) && (!record.FinishesRequest || known.Finished))))
        {
            return known.Key;
        }

        if (_knownRequests.Count >= MaxKnownRequests)
        {
            _knownRequests.Clear();
        }

        BindOptional(upsert, 1, record.RequestId, db);
        // Records that belong to no request are numbered together, and nobody owns them.
        BindOptional(upsert, 2, unattached ? null : record.EndUser, db);
        Check(raw.sqlite3_bind_int(upsert, 3, !unattached && record.FinishesRequest ? 1 : 0), db);
        try
        {
            var rc = raw.sqlite3_step(upsert);
            if (rc != raw.SQLITE_ROW)
            {
                SqliteException.ThrowExceptionForRC(rc, db);
            }

            var key = raw.sqlite3_column_int64(upsert, 0);
            _knownRequests[record.RequestId] = (key, raw.sqlite3_column_int(upsert, 1) != 0, raw.sqlite3_column_int(upsert, 2) != 0);
            return key;
        }
        finally
        {
            raw.sqlite3_reset(upsert);
        }
    }

    /// <summary>
    /// Forgets every request: after a failed write (what is stored is no longer known) and after retention
    /// (a request whose records are all gone is deleted; one that comes back is numbered afresh).
    /// </summary>
    public void Forget() => _knownRequests.Clear();
}
