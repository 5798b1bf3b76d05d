using System.Data.Common;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Shoppe.Delivery.Transforms;

/// <summary>
/// The durable state of every transform and of each of its files, in SQLite (one machine, the default) or
/// PostgreSQL (a site, <c>Delivery:Store=postgres</c>). One set of SQL serves both: plain ADO.NET, named
/// <c>@</c> parameters and types both engines take. A file's result is written only after its output file has its
/// final name, so a restart redoes at most the files that were running.
/// </summary>
public sealed partial class TransformStore : IAsyncDisposable
{
    private readonly Func<CancellationToken, ValueTask<DbConnection>> _open;
    private readonly IAsyncDisposable? _source;

    private TransformStore(Func<CancellationToken, ValueTask<DbConnection>> open, IAsyncDisposable? source, string kind)
    {
        _open = open;
        _source = source;
        Kind = kind;
    }

    /// <summary><c>sqlite</c> or <c>postgres</c>.</summary>
    public string Kind { get; }

    public static TransformStore Sqlite(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var connectionString = new SqliteConnectionStringBuilder { DataSource = path, Pooling = true, DefaultTimeout = 30 }.ToString();
        return new TransformStore(async ct =>
        {
            var connection = new SqliteConnection(connectionString);
            await connection.OpenAsync(ct);
            // Per connection, not per file: with WAL, a commit is safe against a killed process without an fsync
            // each (FULL, SQLite's default, made every claim and every result wait for the disk: ~5 ms apiece here).
            await using var normal = connection.CreateCommand();
            normal.CommandText = "PRAGMA synchronous=NORMAL";
            await normal.ExecuteNonQueryAsync(ct);
            return connection;
        }, null, "sqlite");
    }

    public static TransformStore Postgres(string connectionString)
    {
        var source = NpgsqlDataSource.Create(connectionString);
        return new TransformStore(async ct => await source.OpenConnectionAsync(ct), source, "postgres");
    }

    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await using var connection = await _open(cancellationToken);
        if (Kind == "sqlite")
        {
            // WAL: readers (status polls) never wait for the workers' writes.
            await ExecuteAsync(connection, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", cancellationToken);
            await CreateAsync(connection, cancellationToken);
            return;
        }

        // Instances starting together on one PostgreSQL create and migrate the tables one at a time.
        const long SchemaLock = 0x5368_6f70_7065_4431; // "ShoppeD1"
        await ExecuteAsync(connection, $"SELECT pg_advisory_lock({SchemaLock})", cancellationToken);
        try
        {
            await CreateAsync(connection, cancellationToken);
        }
        finally
        {
            await ExecuteAsync(connection, $"SELECT pg_advisory_unlock({SchemaLock})", CancellationToken.None);
        }
    }

    private async Task CreateAsync(DbConnection connection, CancellationToken cancellationToken)
    {

        await ExecuteAsync(connection, """
            CREATE TABLE IF NOT EXISTS transforms (
                id TEXT PRIMARY KEY,
                owner TEXT NOT NULL,
                state TEXT NOT NULL,
                title TEXT,
                dataset TEXT NOT NULL,
                columns TEXT NOT NULL,
                filter TEXT,
                format TEXT NOT NULL,
                output_dir TEXT NOT NULL,
                files_total INTEGER NOT NULL,
                submitted BIGINT NOT NULL,
                started BIGINT,
                finished BIGINT);
            CREATE INDEX IF NOT EXISTS transforms_owner ON transforms (owner, submitted);
            CREATE INDEX IF NOT EXISTS transforms_state ON transforms (state);
            CREATE TABLE IF NOT EXISTS output_cache (
                key TEXT PRIMARY KEY,
                path TEXT NOT NULL,
                events_in BIGINT NOT NULL,
                events_out BIGINT NOT NULL,
                bytes_out BIGINT NOT NULL,
                created BIGINT NOT NULL);
            CREATE TABLE IF NOT EXISTS transform_files (
                transform_id TEXT NOT NULL,
                idx INTEGER NOT NULL,
                input TEXT NOT NULL,
                state TEXT NOT NULL,
                attempts INTEGER NOT NULL,
                error TEXT,
                events_in BIGINT NOT NULL,
                events_out BIGINT NOT NULL,
                bytes_in BIGINT NOT NULL,
                bytes_out BIGINT NOT NULL,
                output TEXT,
                started BIGINT,
                finished BIGINT,
                PRIMARY KEY (transform_id, idx));
            """, cancellationToken);
        await MigrateQueueAsync(connection, cancellationToken);
    }

    public async Task CreateAsync(TransformRecord transform, IReadOnlyList<string> inputs, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(transform);
        ArgumentNullException.ThrowIfNull(inputs);
        await using var connection = await _open(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var insert = Command(connection, """
            INSERT INTO transforms (id, owner, state, title, dataset, columns, filter, format, output_dir, files_total, submitted)
            VALUES (@id, @owner, @state, @title, @dataset, @columns, @filter, @format, @output_dir, @files_total, @submitted)
            """))
        {
            insert.Transaction = transaction;
            Add(insert, "id", transform.RequestId);
            Add(insert, "owner", transform.Owner);
            Add(insert, "state", transform.State);
            Add(insert, "title", transform.Title);
            Add(insert, "dataset", transform.DatasetText);
            Add(insert, "columns", JsonSerializer.Serialize(transform.Columns, DeliveryJsonContext.Default.IReadOnlyListString));
            Add(insert, "filter", transform.Filter);
            Add(insert, "format", transform.Format);
            Add(insert, "output_dir", transform.OutputDirectory);
            Add(insert, "files_total", inputs.Count);
            Add(insert, "submitted", transform.Submitted.ToUnixTimeMilliseconds());
            await insert.ExecuteNonQueryAsync(cancellationToken);
        }

        await using (var file = Command(connection, """
            INSERT INTO transform_files (transform_id, idx, input, state, attempts, events_in, events_out, bytes_in, bytes_out)
            VALUES (@id, @idx, @input, 'pending', 0, 0, 0, 0, 0)
            """))
        {
            file.Transaction = transaction;
            var id = Add(file, "id", transform.RequestId);
            var idx = Add(file, "idx", 0);
            var input = Add(file, "input", "");
            await file.PrepareAsync(cancellationToken);
            for (var i = 0; i < inputs.Count; i++)
            {
                idx.Value = i;
                input.Value = inputs[i];
                await file.ExecuteNonQueryAsync(cancellationToken);
            }
        }

        await transaction.CommitAsync(cancellationToken);
    }

    public async Task<TransformRecord?> GetAsync(string id, CancellationToken cancellationToken)
    {
        var found = await QueryTransformsAsync("WHERE id = @id", c => Add(c, "id", id), cancellationToken);
        return found.Count == 0 ? null : found[0];
    }

    /// <summary>A user's transforms (all users' when <paramref name="owner"/> is null), newest first.</summary>
    public Task<List<TransformRecord>> ListAsync(string? owner, int limit, CancellationToken cancellationToken) =>
        owner is null
            ? QueryTransformsAsync($"ORDER BY submitted DESC LIMIT {limit}", _ => { }, cancellationToken)
            : QueryTransformsAsync($"WHERE owner = @owner ORDER BY submitted DESC LIMIT {limit}", c => Add(c, "owner", owner), cancellationToken);

    private async Task<List<TransformRecord>> QueryTransformsAsync(string where, Action<DbCommand> bind, CancellationToken cancellationToken)
    {
        await using var connection = await _open(cancellationToken);
        await using var command = Command(connection, $"""
            SELECT id, owner, state, title, dataset, columns, filter, format, output_dir, files_total, submitted, started, finished
            FROM transforms {where}
            """);
        bind(command);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var result = new List<TransformRecord>();
        while (await reader.ReadAsync(cancellationToken))
        {
            result.Add(new TransformRecord(
                reader.GetString(0),
                reader.GetString(1),
                reader.GetString(2),
                reader.IsDBNull(3) ? null : reader.GetString(3),
                reader.GetString(4),
                JsonSerializer.Deserialize(reader.GetString(5), DeliveryJsonContext.Default.IReadOnlyListString) ?? [],
                reader.IsDBNull(6) ? null : reader.GetString(6),
                reader.GetString(7),
                reader.GetString(8),
                reader.GetInt32(9),
                DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(10)),
                Time(reader, 11),
                Time(reader, 12)));
        }

        return result;
    }

    public Task<List<TransformFile>> GetFilesAsync(string id, CancellationToken cancellationToken) =>
        QueryFilesAsync(id, null, cancellationToken);

    /// <summary>One file of a transform (a download), without reading the others' rows.</summary>
    public async Task<TransformFile?> GetFileAsync(string id, int index, CancellationToken cancellationToken) =>
        (await QueryFilesAsync(id, index, cancellationToken)).FirstOrDefault();

    private async Task<List<TransformFile>> QueryFilesAsync(string id, int? index, CancellationToken cancellationToken)
    {
        await using var connection = await _open(cancellationToken);
        await using var command = Command(connection, $"""
            SELECT idx, input, state, attempts, error, events_in, events_out, bytes_in, bytes_out, output, started, finished, holder
            FROM transform_files WHERE transform_id = @id{(index is null ? "" : " AND idx = @idx")} ORDER BY idx
            """);
        Add(command, "id", id);
        if (index is { } i)
        {
            Add(command, "idx", i);
        }

        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var files = new List<TransformFile>();
        while (await reader.ReadAsync(cancellationToken))
        {
            files.Add(new TransformFile(
                reader.GetInt32(0),
                reader.GetString(1),
                reader.GetString(2),
                reader.GetInt32(3),
                reader.IsDBNull(4) ? null : reader.GetString(4),
                reader.GetInt64(5),
                reader.GetInt64(6),
                reader.GetInt64(7),
                reader.GetInt64(8),
                reader.IsDBNull(9) ? null : reader.GetString(9),
                Time(reader, 10),
                Time(reader, 11),
                reader.IsDBNull(12) ? null : reader.GetString(12)));
        }

        return files;
    }

    /// <summary>
    /// A transform's files counted by state, with their sums and the first failures: what a status needs, from the
    /// counters the transform's row keeps (every file ends once, under its lease) and the few files running, so a
    /// status costs the same for 10 files or 100 000.
    /// </summary>
    public async Task<TransformSummary> SummarizeAsync(string id, CancellationToken cancellationToken) =>
        (await SummarizeAsync([id], cancellationToken)).GetValueOrDefault(id) ?? TransformSummary.Empty;

    /// <summary>Several transforms' summaries in two queries on one connection (a list of them, as "my requests" shows it).</summary>
    public async Task<Dictionary<string, TransformSummary>> SummarizeAsync(IReadOnlyList<string> ids, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var summaries = new Dictionary<string, TransformSummary>(StringComparer.Ordinal);
        if (ids.Count == 0)
        {
            return summaries;
        }

        await using var connection = await _open(cancellationToken);
        var names = string.Join(", ", Enumerable.Range(0, ids.Count).Select(i => $"@id{i}"));
        var withFailures = new List<string>();
        await using (var command = Command(connection, $"""
            SELECT id, files_total, files_done, files_failed, files_cancelled, events_in, events_out, bytes_in, bytes_out,
                (SELECT COUNT(*) FROM transform_files f WHERE f.transform_id = t.id AND f.state = 'running')
            FROM transforms t WHERE id IN ({names})
            """))
        {
            for (var i = 0; i < ids.Count; i++)
            {
                Add(command, $"id{i}", ids[i]);
            }

            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                int Int(int i) => Convert.ToInt32(reader.GetValue(i), System.Globalization.CultureInfo.InvariantCulture);
                var (total, done, failed, cancelled, running) = (Int(1), Int(2), Int(3), Int(4), Int(9));
                var counts = new Dictionary<string, int>(StringComparer.Ordinal)
                {
                    [FileStates.Done] = done,
                    [FileStates.Failed] = failed,
                    [FileStates.Cancelled] = cancelled,
                    [FileStates.Running] = running,
                    [FileStates.Pending] = Math.Max(0, total - done - failed - cancelled - running),
                };
                var id = reader.GetString(0);
                summaries[id] = new TransformSummary(counts, reader.GetInt64(5), reader.GetInt64(6), reader.GetInt64(7), reader.GetInt64(8), []);
                if (failed > 0)
                {
                    withFailures.Add(id);
                }
            }
        }

        // The first failures of each that has any (most have none, and cost nothing here).
        foreach (var id in withFailures)
        {
            var errors = new List<string>();
            await using var command = Command(connection, "SELECT idx, error FROM transform_files WHERE transform_id = @id AND state = 'failed' ORDER BY idx LIMIT 20");
            Add(command, "id", id);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                errors.Add($"file {reader.GetInt32(0) + 1}: {(reader.IsDBNull(1) ? "failed" : reader.GetString(1))}");
            }

            summaries[id] = summaries[id] with { Errors = errors };
        }

        return summaries;
    }

    /// <summary>Moves an open transform to <paramref name="state"/>; false when it was finished already (or someone else moved it).</summary>
    public async Task<bool> SetStateAsync(string id, string state, DateTimeOffset at, CancellationToken cancellationToken)
    {
        await using var connection = await _open(cancellationToken);
        var column = state == TransformStates.Running ? "started" : TransformStates.IsFinished(state) ? "finished" : null;
        // A finished transform stays finished: a worker that still reports after a cancel changes nothing.
        const string Open = $"state IN ('{TransformStates.Submitted}', '{TransformStates.Running}')";
        await using var command = Command(connection, column is null
            ? $"UPDATE transforms SET state = @state WHERE id = @id AND {Open}"
            : $"UPDATE transforms SET state = @state, {column} = COALESCE({column}, @at) WHERE id = @id AND {Open}");
        Add(command, "id", id);
        Add(command, "state", state);
        Add(command, "at", at.ToUnixTimeMilliseconds());
        return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    /// <summary>
    /// Cancels an open transform and every file of it not yet finished, in one transaction; false when it had
    /// finished (or was cancelled) already.
    /// </summary>
    public async Task<bool> CancelAsync(string id, DateTimeOffset at, CancellationToken cancellationToken)
    {
        await using var connection = await _open(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var state = Command(connection, $"UPDATE transforms SET state = '{TransformStates.Cancelled}', finished = COALESCE(finished, @at) WHERE id = @id AND state IN {Open}"))
        {
            state.Transaction = transaction;
            Add(state, "id", id);
            Add(state, "at", at.ToUnixTimeMilliseconds());
            if (await state.ExecuteNonQueryAsync(cancellationToken) != 1)
            {
                return false;
            }
        }

        await using var command = Command(connection, "UPDATE transform_files SET state = 'cancelled', finished = @at, holder = NULL, lease_until = NULL WHERE transform_id = @id AND state IN ('pending', 'running')");
        command.Transaction = transaction;
        Add(command, "id", id);
        Add(command, "at", at.ToUnixTimeMilliseconds());
        var cancelled = await command.ExecuteNonQueryAsync(cancellationToken);
        await CountAsync(connection, transaction, id, "files_cancelled = files_cancelled + @n", ("n", cancelled), cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return true;
    }

    /// <summary>A previous output of the same query over the same version of a file, or null.</summary>
    public async Task<CachedOutput?> FindOutputAsync(string key, CancellationToken cancellationToken)
    {
        await using var connection = await _open(cancellationToken);
        await using var command = Command(connection, "SELECT path, events_in, events_out, bytes_out FROM output_cache WHERE key = @key");
        Add(command, "key", key);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? new CachedOutput(reader.GetString(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3))
            : null;
    }

    /// <summary>Remembers an output for reuse; <paramref name="input"/> lets a claim tell whether any earlier output of that input exists.</summary>
    public async Task RememberOutputAsync(string key, string input, CachedOutput output, DateTimeOffset at, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(output);
        await using var connection = await _open(cancellationToken);
        await using var command = Command(connection, """
            INSERT INTO output_cache (key, input, path, events_in, events_out, bytes_out, created) VALUES (@key, @input, @path, @events_in, @events_out, @bytes_out, @at)
            ON CONFLICT (key) DO UPDATE SET path = excluded.path, events_in = excluded.events_in, events_out = excluded.events_out,
                bytes_out = excluded.bytes_out, created = excluded.created
            """);
        Add(command, "key", key);
        Add(command, "input", input);
        Add(command, "path", output.Path);
        Add(command, "events_in", output.EventsIn);
        Add(command, "events_out", output.EventsOut);
        Add(command, "bytes_out", output.BytesOut);
        Add(command, "at", at.ToUnixTimeMilliseconds());
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static DateTimeOffset? Time(DbDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(ordinal));

    private static DbCommand Command(DbConnection connection, string sql)
    {
        var command = connection.CreateCommand();
#pragma warning disable CA2100 // the SQL is ours; every value goes in as a parameter
        command.CommandText = sql;
#pragma warning restore CA2100
        return command;
    }

    private static DbParameter Add(DbCommand command, string name, object? value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = "@" + name;
        parameter.Value = value ?? DBNull.Value;
        command.Parameters.Add(parameter);
        return parameter;
    }

    private static async Task ExecuteAsync(DbConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = Command(connection, sql);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        if (_source is not null)
        {
            await _source.DisposeAsync();
        }
    }
}

/// <summary>An output file that answers a query over one version of one input.</summary>
public sealed record CachedOutput(string Path, long EventsIn, long EventsOut, long BytesOut);

/// <summary>A transform's files by state (<see cref="FileStates"/>), their sums, and the first 20 failures.</summary>
public sealed record TransformSummary(IReadOnlyDictionary<string, int> Counts, long EventsIn, long EventsOut, long BytesIn, long BytesOut, IReadOnlyList<string> Errors)
{
    /// <summary>A transform the store does not have: nothing counted.</summary>
    public static readonly TransformSummary Empty = new(new Dictionary<string, int>(), 0, 0, 0, 0, []);

    public int Count(string state) => Counts.TryGetValue(state, out var n) ? n : 0;
}
