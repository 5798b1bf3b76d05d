using System.Text;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Shoppe.Logs.Storage.Sqlite;

/// <summary>One request of a tree as the <c>requests</c> table knows it: the id asked for, or a descendant.</summary>
/// <param name="Key">The number its records carry.</param>
/// <param name="RequestId">Its id.</param>
/// <param name="Owner">The first user seen on it, or null.</param>
/// <param name="Finished">Whether it said it ended.</param>
/// <param name="FirstTs">The time of its first record (at or after the time asked about), or null when none.</param>
/// <param name="LastTs">The time of its last record, or null when none (read only for the request info).</param>
internal readonly record struct TreeMember(long Key, string RequestId, string? Owner, bool Finished, long? FirstTs, long? LastTs);

/// <summary>
/// Finds the requests of a tree (<see cref="RequestTrees"/>) in the <c>requests</c> table: the id itself, and its
/// descendants as one range of the unique index on <c>request_id</c>. ':' is followed by ';' in byte order, so
/// <c>[id + ":", id + ";")</c> holds exactly the ids that start with <c>id:</c>. A LIKE would neither use the
/// index nor be exact: '_' may be part of an id and is a LIKE wildcard. Neither <c>W10</c> nor <c>W:10</c> falls
/// in the range of <c>W1</c> or of <c>W:1</c> (<c>RequestTreeStoreTests</c> checks this, and the plan).
/// </summary>
internal static class TreeMembers
{
    /// <summary>The requests of the tree of <c>$r</c>.</summary>
    public const string OfTree = "request_id = $r OR (request_id >= $r || ':' AND request_id < $r || ';')";

    /// <summary>The request <c>$r</c> alone.</summary>
    public const string OfRequest = "request_id = $r";

    /// <summary>
    /// The members of <paramref name="requestId"/>'s tree (or the request alone) that hold records, in the order
    /// they first arrived; with their first record at or after <paramref name="fromUnixNano"/>, each one seek on
    /// the (request, time) index, and with <paramref name="withLast"/> their last.
    /// </summary>
    public static List<TreeMember> Find(SqliteReaderPool.Lease reader, string requestId, bool descendants, long? fromUnixNano, bool withLast, CancellationToken cancellationToken)
    {
        var db = reader.Connection.Handle!;
        var sql = Sql(descendants, fromUnixNano is not null, withLast);
        var statement = reader.Statements.Rent(sql);
        try
        {
            return Read(statement, db, requestId, fromUnixNano, cancellationToken);
        }
        finally
        {
            reader.Statements.Return(sql, statement);
        }
    }

    private static List<TreeMember> Read(sqlite3_stmt statement, sqlite3 db, string requestId, long? fromUnixNano, CancellationToken cancellationToken)
    {
        SqliteStatements.Check(raw.sqlite3_bind_text(statement, raw.sqlite3_bind_parameter_index(statement, "$r"), requestId), db);
        if (fromUnixNano is { } from)
        {
            SqliteStatements.Check(raw.sqlite3_bind_int64(statement, raw.sqlite3_bind_parameter_index(statement, "$from"), from), db);
        }

        var members = new List<TreeMember>(1);
        int rc;
        while ((rc = raw.sqlite3_step(statement)) == raw.SQLITE_ROW)
        {
            if ((members.Count & 1023) == 1023)
            {
                cancellationToken.ThrowIfCancellationRequested();
            }

            if (raw.sqlite3_column_type(statement, 4) == raw.SQLITE_NULL)
            {
                continue; // nothing (left) to read of it
            }

            members.Add(new TreeMember(
                raw.sqlite3_column_int64(statement, 0),
                Encoding.UTF8.GetString(raw.sqlite3_column_blob(statement, 1)),
                raw.sqlite3_column_type(statement, 2) == raw.SQLITE_NULL ? null : Encoding.UTF8.GetString(raw.sqlite3_column_blob(statement, 2)),
                raw.sqlite3_column_int(statement, 3) != 0,
                raw.sqlite3_column_int64(statement, 4),
                raw.sqlite3_column_type(statement, 5) == raw.SQLITE_NULL ? null : raw.sqlite3_column_int64(statement, 5)));
        }

        if (rc != raw.SQLITE_DONE)
        {
            SqliteException.ThrowExceptionForRC(rc, db);
        }

        return members;
    }

    /// <summary>The statement <see cref="Find"/> runs (<c>$r</c>, and <c>$from</c> when <paramref name="withFrom"/>).</summary>
    internal static string Sql(bool descendants, bool withFrom, bool withLast) =>
        new StringBuilder("SELECT key, request_id, owner, finished, (SELECT min(ts) FROM records WHERE request = requests.key")
            .Append(withFrom ? " AND ts >= $from)" : ")")
            .Append(withLast ? ", (SELECT max(ts) FROM records WHERE request = requests.key)" : ", NULL")
            .Append(" FROM requests WHERE ").Append(descendants ? OfTree : OfRequest)
            .Append(" ORDER BY key")
            .ToString();

    /// <summary>What is known of the tree (or the request alone) from its members (<see cref="RequestTrees"/> for the owner).</summary>
    public static RequestInfo? Describe(string requestId, bool descendants, List<TreeMember> members)
    {
        if (members.Count == 0)
        {
            return null;
        }

        TreeMember? self = null;
        string? firstDescendantOwner = null;
        long first = long.MaxValue, last = long.MinValue;
        foreach (var m in members)
        {
            if (m.RequestId == requestId)
            {
                self = m;
            }
            else
            {
                firstDescendantOwner ??= m.Owner; // members come in the order they arrived
            }

            first = Math.Min(first, m.FirstTs!.Value);
            last = Math.Max(last, m.LastTs ?? m.FirstTs!.Value);
        }

        return new RequestInfo(requestId, self is { } s ? s.Owner : firstDescendantOwner, first, last, self?.Finished == true, descendants);
    }

    /// <summary>
    /// Whether <paramref name="visibleTo"/> may read <paramref name="member"/>'s unattributed records (those with no
    /// user): when it is theirs or nobody's. A user who reads a tree never sees another user's records, attributed or not.
    /// </summary>
    public static bool UnattributedVisible(TreeMember member, string? visibleTo) =>
        visibleTo is null || member.Owner is null || member.Owner == visibleTo;
}
