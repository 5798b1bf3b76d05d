using System.Data.Common;
using Shoppe.Columnar;

namespace Shoppe.Delivery.Transforms;

/// <summary>A lease on one file: who holds it, and for which attempt.</summary>
public sealed record FileLease(string RequestId, int Index, string Holder, int Attempt);

/// <summary>A file claimed for a worker: its transform, where it is, the attempt the lease names, and whether an earlier output of it may be reused.</summary>
public sealed record ClaimedFile(TransformRecord Transform, int Index, string Input, int Attempt, bool MayReuse);

/// <summary>A lease that expired: the file waits again, or has failed when it had no attempts left.</summary>
public sealed record ExpiredLease(string RequestId, int Index, string Holder, int Attempt, bool Failed);

/// <summary>
/// The work queue, in the same tables: a file is <c>pending</c> (maybe not before <c>ready_at</c>, a retry's
/// delay), or <c>running</c> under a lease (<c>holder</c>, <c>attempts</c>, <c>lease_until</c>) that its worker
/// renews. Every change a worker makes names its lease, so a worker that lost it (it went silent, and the file
/// passed to another) changes nothing: a file succeeds at most once. Claims take one file of one transform at a
/// time, the transform chosen fairly (the user with the fewest files running, then their transform with the
/// fewest), with <c>FOR UPDATE SKIP LOCKED</c> on PostgreSQL so instances never wait on each other's claims;
/// SQLite has one writer, so its claims are serial anyway.
/// </summary>
public sealed partial class TransformStore
{
    private const string Open = $"('{TransformStates.Submitted}', '{TransformStates.Running}')";
    private const string LeaseMatch = "transform_id = @id AND idx = @idx AND state = 'running' AND holder = @holder AND attempts = @attempt";

    private async Task MigrateQueueAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        // Stores made before leases existed gain their columns; their running files wait again (no holder is alive).
        foreach (var column in new[] { "holder TEXT", "lease_until BIGINT", "ready_at BIGINT" })
        {
            await AddColumnAsync(connection, "transform_files", column, cancellationToken);
        }

        await AddColumnAsync(connection, "transforms", "last_claim BIGINT", cancellationToken);
        await AddColumnAsync(connection, "output_cache", "input TEXT", cancellationToken);
        // A transform's counters (its status reads them, not every file's row). Any transform with ended files and
        // no counts (a store from before the counters, or a start that stopped between adding them and counting) is
        // counted here, at every start; a file's end and its count are one transaction, so no other is touched.
        foreach (var counter in new[] { "files_done", "files_failed", "files_cancelled", "events_in", "events_out", "bytes_in", "bytes_out" })
        {
            await AddColumnAsync(connection, "transforms", counter + " BIGINT NOT NULL DEFAULT 0", cancellationToken);
        }

        await ExecuteAsync(connection, """
            UPDATE transforms SET
                files_done = (SELECT COUNT(*) FROM transform_files f WHERE f.transform_id = transforms.id AND f.state = 'done'),
                files_failed = (SELECT COUNT(*) FROM transform_files f WHERE f.transform_id = transforms.id AND f.state = 'failed'),
                files_cancelled = (SELECT COUNT(*) FROM transform_files f WHERE f.transform_id = transforms.id AND f.state = 'cancelled'),
                events_in = (SELECT COALESCE(SUM(events_in), 0) FROM transform_files f WHERE f.transform_id = transforms.id),
                events_out = (SELECT COALESCE(SUM(events_out), 0) FROM transform_files f WHERE f.transform_id = transforms.id),
                bytes_in = (SELECT COALESCE(SUM(bytes_in), 0) FROM transform_files f WHERE f.transform_id = transforms.id),
                bytes_out = (SELECT COALESCE(SUM(bytes_out), 0) FROM transform_files f WHERE f.transform_id = transforms.id)
            WHERE files_done + files_failed + files_cancelled = 0
                AND EXISTS (SELECT 1 FROM transform_files f WHERE f.transform_id = transforms.id AND f.state IN ('done', 'failed', 'cancelled'))
            """, cancellationToken);

        // Files an older version left running (it resumed them at its next start) wait again: no holder is alive.
        await ExecuteAsync(connection, "UPDATE transform_files SET state = 'pending' WHERE state = 'running' AND holder IS NULL", cancellationToken);
        await ExecuteAsync(connection, """
            CREATE INDEX IF NOT EXISTS transform_files_queue ON transform_files (transform_id, state, idx);
            CREATE INDEX IF NOT EXISTS transform_files_leases ON transform_files (state, lease_until);
            CREATE INDEX IF NOT EXISTS output_cache_input ON output_cache (input);
            """, cancellationToken);
    }

    /// <summary>
    /// Leases up to <paramref name="count"/> files to <paramref name="holder"/>, one at a time, each from the
    /// transform whose user has the fewest files running, then was served longest ago (users take turns even with
    /// one worker), then the user's transform with the fewest running and served longest ago.
    /// </summary>
    /// <param name="holder">The worker: a pilot's id, or a delivery instance's.</param>
    /// <param name="count">How many files it can start.</param>
    /// <param name="owner">Only this user's transforms (a user's own pilot), or null for all.</param>
    /// <param name="lease">How long the lease lasts without a renewal.</param>
    /// <param name="now">The time.</param>
    /// <param name="known">Transforms the caller already holds (their records do not change while they run).</param>
    /// <param name="cancellationToken">Cancels the claim.</param>
    public async Task<List<ClaimedFile>> ClaimAsync(string holder, int count, string? owner, TimeSpan lease, DateTimeOffset now, Func<string, TransformRecord?> known, CancellationToken cancellationToken)
    {
        var claimed = new List<ClaimedFile>();
        if (count <= 0)
        {
            return claimed;
        }

        await using var connection = await _open(cancellationToken);
        var candidates = new List<(string Id, string Owner, string State, long LastClaim, int Running)>();
        await using (var command = Command(connection, $"""
            SELECT t.id, t.owner, t.state, COALESCE(t.last_claim, 0),
                (SELECT COUNT(*) FROM transform_files r WHERE r.transform_id = t.id AND r.state = 'running')
            FROM transforms t
            WHERE t.state IN {Open}{(owner is null ? "" : " AND t.owner = @owner")}
                AND EXISTS (SELECT 1 FROM transform_files p WHERE p.transform_id = t.id AND p.state = 'pending' AND (p.ready_at IS NULL OR p.ready_at <= @now))
            """))
        {
            Add(command, "now", now.ToUnixTimeMilliseconds());
            if (owner is not null)
            {
                Add(command, "owner", owner);
            }

            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                candidates.Add((reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetInt64(3), Convert.ToInt32(reader.GetValue(4), System.Globalization.CultureInfo.InvariantCulture)));
            }
        }

        if (candidates.Count == 0)
        {
            return claimed;
        }

        // Every user's files running now, their transforms without pending files included.
        var byOwner = new Dictionary<string, int>(StringComparer.Ordinal);
        await using (var command = Command(connection, "SELECT t.owner, COUNT(*) FROM transform_files f JOIN transforms t ON t.id = f.transform_id WHERE f.state = 'running' GROUP BY t.owner"))
        {
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                byOwner[reader.GetString(0)] = Convert.ToInt32(reader.GetValue(1), System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        // When each user was last served: their transforms' latest claim.
        var served = candidates.GroupBy(c => c.Owner, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Max(c => c.LastClaim), StringComparer.Ordinal);
        var records = new Dictionary<string, TransformRecord>(StringComparer.Ordinal);
        var skipLocked = Kind == "postgres" ? " FOR UPDATE SKIP LOCKED" : "";
        await using var claim = Command(connection, $"""
            UPDATE transform_files SET state = 'running', holder = @holder, lease_until = @until, attempts = attempts + 1, started = @now, ready_at = NULL
            WHERE transform_id = @id AND state = 'pending' AND idx = (
                SELECT idx FROM transform_files WHERE transform_id = @id AND state = 'pending' AND (ready_at IS NULL OR ready_at <= @now)
                ORDER BY idx LIMIT 1{skipLocked})
            RETURNING idx, input, attempts
            """);
        var idParameter = Add(claim, "id", "");
        Add(claim, "holder", holder);
        Add(claim, "until", (now + lease).ToUnixTimeMilliseconds());
        Add(claim, "now", now.ToUnixTimeMilliseconds());
        // The transform is running from its first claim, and remembers when it was last served.
        await using var mark = Command(connection, $"""
            UPDATE transforms SET last_claim = @served, started = COALESCE(started, @now),
                state = CASE WHEN state = '{TransformStates.Submitted}' THEN '{TransformStates.Running}' ELSE state END
            WHERE id = @id AND state IN {Open}
            """);
        var markParameter = Add(mark, "id", "");
        await using var reuse = Command(connection, "SELECT 1 FROM output_cache WHERE input = @input LIMIT 1");
        var reusable = Add(reuse, "input", "");
        var servedParameter = Add(mark, "served", 0L);
        Add(mark, "now", now.ToUnixTimeMilliseconds());
        while (claimed.Count < count && candidates.Count > 0)
        {
            var best = 0;
            for (var i = 1; i < candidates.Count; i++)
            {
                var (a, b) = (candidates[i], candidates[best]);
                var order = byOwner.GetValueOrDefault(a.Owner).CompareTo(byOwner.GetValueOrDefault(b.Owner));
                order = order != 0 ? order : served[a.Owner].CompareTo(served[b.Owner]);
                order = order != 0 ? order : a.Running.CompareTo(b.Running);
                order = order != 0 ? order : a.LastClaim.CompareTo(b.LastClaim);
                if (order < 0)
                {
                    best = i;
                }
            }

            var candidate = candidates[best];
            idParameter.Value = candidate.Id;
            int index, attempt;
            string input;
            await using (var reader = await claim.ExecuteReaderAsync(cancellationToken))
            {
                if (!await reader.ReadAsync(cancellationToken))
                {
                    candidates.RemoveAt(best); // Taken by another worker meanwhile, or only retries not yet due.
                    continue;
                }

                (index, input, attempt) = (reader.GetInt32(0), reader.GetString(1), reader.GetInt32(2));
            }

            var sequence = (now.ToUnixTimeMilliseconds() * 1000) + claimed.Count;
            servedParameter.Value = sequence;
            markParameter.Value = candidate.Id;
            await mark.ExecuteNonQueryAsync(cancellationToken);
            if (!records.TryGetValue(candidate.Id, out var record))
            {
                record = known(candidate.Id) ?? await GetAsync(candidate.Id, cancellationToken);
                if (record is null)
                {
                    candidates.RemoveAt(best);
                    continue;
                }

                records[candidate.Id] = record;
            }

            // An earlier output of this input (any query, any version): only then is reuse worth a question.
            reusable.Value = input;
            claimed.Add(new ClaimedFile(record, index, input, attempt, await reuse.ExecuteScalarAsync(cancellationToken) is not null));
            candidates[best] = candidate with { Running = candidate.Running + 1, LastClaim = sequence };
            byOwner[candidate.Owner] = byOwner.GetValueOrDefault(candidate.Owner) + 1;
            served[candidate.Owner] = sequence;
        }

        return claimed;
    }

    /// <summary>Extends the leases that still hold; returns those that do not (the worker stops those files).</summary>
    public async Task<List<FileLease>> RenewAsync(IReadOnlyCollection<FileLease> leases, DateTimeOffset until, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(leases);
        var lost = new List<FileLease>();
        if (leases.Count == 0)
        {
            return lost;
        }

        await using var connection = await _open(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var command = Command(connection, $"UPDATE transform_files SET lease_until = @until WHERE {LeaseMatch}");
        // Rows locked in one order by every renewal (PostgreSQL): two renewals never wait on each other in a cycle.
        leases = [.. leases.OrderBy(l => l.RequestId, StringComparer.Ordinal).ThenBy(l => l.Index)];
        command.Transaction = transaction;
        var (id, idx, holder, attempt) = LeaseParameters(command);
        Add(command, "until", until.ToUnixTimeMilliseconds());
        foreach (var lease in leases)
        {
            (id.Value, idx.Value, holder.Value, attempt.Value) = (lease.RequestId, lease.Index, lease.Holder, lease.Attempt);
            if (await command.ExecuteNonQueryAsync(cancellationToken) == 0)
            {
                lost.Add(lease);
            }
        }

        await transaction.CommitAsync(cancellationToken);
        return lost;
    }

    /// <summary>Records a file done under its lease; false when the lease no longer holds (nothing changed).</summary>
    public async Task<bool> CompleteAsync(FileLease lease, TransformResult result, string output, DateTimeOffset at, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lease);
        ArgumentNullException.ThrowIfNull(result);
        await using var connection = await _open(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var command = Command(connection, $"""
            UPDATE transform_files SET state = 'done', error = NULL, events_in = @events_in, events_out = @events_out,
                bytes_in = @bytes_in, bytes_out = @bytes_out, output = @output, finished = @at, holder = NULL, lease_until = NULL
            WHERE {LeaseMatch}
            """);
        BindLease(command, lease);
        Add(command, "events_in", result.EventsIn);
        Add(command, "events_out", result.EventsOut);
        Add(command, "bytes_in", result.BytesIn);
        Add(command, "bytes_out", result.BytesOut);
        Add(command, "output", output);
        Add(command, "at", at.ToUnixTimeMilliseconds());
        command.Transaction = transaction;
        if (await command.ExecuteNonQueryAsync(cancellationToken) != 1)
        {
            return false;
        }

        await CountAsync(connection, transaction, lease.RequestId,
            "files_done = files_done + 1, events_in = events_in + @ei, events_out = events_out + @eo, bytes_in = bytes_in + @bi, bytes_out = bytes_out + @bo",
            [("ei", result.EventsIn), ("eo", result.EventsOut), ("bi", result.BytesIn), ("bo", result.BytesOut)], cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return true;
    }

    /// <summary>
    /// Records a file's failure under its lease: it waits again from <paramref name="retryAt"/> when that is given
    /// and attempts are left, else it has failed. Returns the state it went to, or null when the lease no longer holds.
    /// </summary>
    public async Task<string?> FailAsync(FileLease lease, string error, DateTimeOffset? retryAt, int maxAttempts, DateTimeOffset at, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lease);
        var state = retryAt is not null && lease.Attempt < maxAttempts ? FileStates.Pending : FileStates.Failed;
        await using var connection = await _open(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var command = Command(connection, $"""
            UPDATE transform_files SET state = @state, error = @error, ready_at = @ready, finished = @finished, holder = NULL, lease_until = NULL
            WHERE {LeaseMatch}
            """);
        BindLease(command, lease);
        Add(command, "state", state);
        Add(command, "error", error);
        Add(command, "ready", state == FileStates.Pending ? retryAt!.Value.ToUnixTimeMilliseconds() : null);
        Add(command, "finished", state == FileStates.Failed ? at.ToUnixTimeMilliseconds() : null);
        command.Transaction = transaction;
        if (await command.ExecuteNonQueryAsync(cancellationToken) != 1)
        {
            return null;
        }

        if (state == FileStates.Failed)
        {
            await CountAsync(connection, transaction, lease.RequestId, "files_failed = files_failed + 1", [], cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        return state;
    }

    /// <summary>Gives a lease back unused (its worker is stopping): the file waits again, the attempt not counted.</summary>
    public async Task ReleaseAsync(FileLease lease, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lease);
        await using var connection = await _open(cancellationToken);
        await using var command = Command(connection, $"UPDATE transform_files SET state = 'pending', holder = NULL, lease_until = NULL, attempts = attempts - 1 WHERE {LeaseMatch}");
        BindLease(command, lease);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Takes back the leases whose workers went silent (SIGKILL, a lost node): each file waits again, or fails when
    /// it has used <paramref name="maxAttempts"/> (a file that kills every worker that reads it does not loop).
    /// </summary>
    public async Task<List<ExpiredLease>> ExpireLeasesAsync(int maxAttempts, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var connection = await _open(cancellationToken);
        var expired = new List<FileLease>();
        await using (var select = Command(connection, "SELECT transform_id, idx, holder, attempts FROM transform_files WHERE state = 'running' AND lease_until < @now LIMIT 10000"))
        {
            Add(select, "now", now.ToUnixTimeMilliseconds());
            await using var reader = await select.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                expired.Add(new FileLease(reader.GetString(0), reader.GetInt32(1), reader.IsDBNull(2) ? "" : reader.GetString(2), reader.GetInt32(3)));
            }
        }

        var result = new List<ExpiredLease>();
        foreach (var lease in expired)
        {
            var failed = lease.Attempt >= maxAttempts;
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            await using var command = Command(connection, $"""
                UPDATE transform_files SET state = @state, holder = NULL, lease_until = NULL, finished = @finished,
                    error = @error
                WHERE {LeaseMatch} AND lease_until < @now
                """);
            BindLease(command, lease);
            Add(command, "state", failed ? FileStates.Failed : FileStates.Pending);
            Add(command, "finished", failed ? now.ToUnixTimeMilliseconds() : null);
            Add(command, "error", $"its worker {lease.Holder} went silent on attempt {lease.Attempt}{(failed ? $" of {maxAttempts}" : "")}");
            Add(command, "now", now.ToUnixTimeMilliseconds());
            command.Transaction = transaction;
            if (await command.ExecuteNonQueryAsync(cancellationToken) == 1)
            {
                if (failed)
                {
                    await CountAsync(connection, transaction, lease.RequestId, "files_failed = files_failed + 1", [], cancellationToken);
                }

                result.Add(new ExpiredLease(lease.RequestId, lease.Index, lease.Holder, lease.Attempt, failed));
            }

            await transaction.CommitAsync(cancellationToken);
        }

        return result;
    }

    /// <summary>Whether any file of the transform still waits or runs (one index probe, whatever its size).</summary>
    public async Task<bool> HasOpenFilesAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = await _open(cancellationToken);
        await using var command = Command(connection, "SELECT 1 FROM transform_files WHERE transform_id = @id AND state IN ('pending', 'running') LIMIT 1");
        Add(command, "id", id);
        return await command.ExecuteScalarAsync(cancellationToken) is not null;
    }

    /// <summary>The ids of the transforms still open.</summary>
    public async Task<HashSet<string>> ListOpenAsync(CancellationToken cancellationToken)
    {
        await using var connection = await _open(cancellationToken);
        await using var command = Command(connection, $"SELECT id FROM transforms WHERE state IN {Open}");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var ids = new HashSet<string>(StringComparer.Ordinal);
        while (await reader.ReadAsync(cancellationToken))
        {
            ids.Add(reader.GetString(0));
        }

        return ids;
    }

    /// <summary>Open transforms none of whose files waits or runs: their last worker stopped before it could finish them.</summary>
    public async Task<List<string>> ListSettledAsync(CancellationToken cancellationToken)
    {
        await using var connection = await _open(cancellationToken);
        await using var command = Command(connection, $"""
            SELECT id FROM transforms t WHERE state IN {Open}
                AND NOT EXISTS (SELECT 1 FROM transform_files f WHERE f.transform_id = t.id AND f.state IN ('pending', 'running'))
            """);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var ids = new List<string>();
        while (await reader.ReadAsync(cancellationToken))
        {
            ids.Add(reader.GetString(0));
        }

        return ids;
    }

    /// <summary>Whether <paramref name="lease"/> still holds (a pilot's upload is taken only then).</summary>
    public async Task<bool> HoldsAsync(FileLease lease, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lease);
        await using var connection = await _open(cancellationToken);
        await using var command = Command(connection, $"SELECT 1 FROM transform_files WHERE {LeaseMatch}");
        BindLease(command, lease);
        return await command.ExecuteScalarAsync(cancellationToken) is not null;
    }

    /// <summary>Adds a file's ending to its transform's counters, in the transaction that ends the file.</summary>
    private static async Task CountAsync(DbConnection connection, DbTransaction transaction, string id, string set, (string Name, long Value)[] values, CancellationToken cancellationToken)
    {
        await using var command = Command(connection, $"UPDATE transforms SET {set} WHERE id = @id");
        command.Transaction = transaction;
        Add(command, "id", id);
        foreach (var (name, value) in values)
        {
            Add(command, name, value);
        }

        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static Task CountAsync(DbConnection connection, DbTransaction transaction, string id, string set, (string Name, long Value) value, CancellationToken cancellationToken) =>
        CountAsync(connection, transaction, id, set, [value], cancellationToken);

    /// <summary>Adds a column unless the table has it; true when it was added.</summary>
    private async Task<bool> AddColumnAsync(DbConnection connection, string table, string column, CancellationToken cancellationToken)
    {
        await using (var exists = Command(connection, Kind == "postgres"
            ? "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = @table AND column_name = @name"
            : $"SELECT COUNT(*) FROM pragma_table_info('{table}') WHERE name = @name"))
        {
            Add(exists, "table", table);
            Add(exists, "name", column.Split(' ')[0]);
            if (Convert.ToInt64(await exists.ExecuteScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture) > 0)
            {
                return false;
            }
        }

        await ExecuteAsync(connection, $"ALTER TABLE {table} ADD COLUMN {(Kind == "postgres" ? "IF NOT EXISTS " : "")}{column}", cancellationToken);
        return true;
    }

    private static void BindLease(DbCommand command, FileLease lease)
    {
        var (id, idx, holder, attempt) = LeaseParameters(command);
        (id.Value, idx.Value, holder.Value, attempt.Value) = (lease.RequestId, lease.Index, lease.Holder, lease.Attempt);
    }

    private static (DbParameter Id, DbParameter Index, DbParameter Holder, DbParameter Attempt) LeaseParameters(DbCommand command) =>
        (Add(command, "id", ""), Add(command, "idx", 0), Add(command, "holder", ""), Add(command, "attempt", 0));
}
