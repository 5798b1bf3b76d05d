using System.Text.Json.Serialization;
using Microsoft.Data.Sqlite;

namespace Shoppe.Transfer.Queue;

/// <summary><c>POST /v1/transfers</c>: copy <see cref="Source"/> to <see cref="Destination"/> (the destination pulls).</summary>
public sealed record TransferRequest(string? Source, string? Destination, bool VerifyChecksum = false, string? SourceToken = null, string? DestinationToken = null);

/// <summary>A queued copy as users see it (its tokens are never shown; they are kept, encrypted, only until it ends).</summary>
public sealed record TransferJob(
    string RequestId,
    string Owner,
    string Source,
    string Destination,
    bool VerifyChecksum,
    string State,
    int Attempts,
    long Bytes,
    long? Size,
    string? Error,
    DateTimeOffset Submitted,
    DateTimeOffset? Started,
    DateTimeOffset? Finished);

[JsonSourceGenerationOptions(System.Text.Json.JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(TransferRequest))]
[JsonSerializable(typeof(TransferJob))]
[JsonSerializable(typeof(TransferJob[]))]
public sealed partial class TransferJsonContext : JsonSerializerContext;

/// <summary>
/// The queue's history in SQLite (<c>&lt;data root&gt;/transfers.db</c>): every copy, its state, attempts and bytes;
/// and, while a copy is queued or running, its tokens as the scheduler protected them (ASP.NET Core Data
/// Protection), so a restarted service can go on with it. A copy that ends has its tokens removed.
/// </summary>
public sealed class TransferJobs
{
    private readonly string _connectionString;

    public TransferJobs(string path)
    {
        _connectionString = new SqliteConnectionStringBuilder { DataSource = path, Pooling = true, DefaultTimeout = 30 }.ToString();
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = """
            PRAGMA journal_mode=WAL;
            CREATE TABLE IF NOT EXISTS transfers (
                id TEXT PRIMARY KEY, owner TEXT NOT NULL, source TEXT NOT NULL, destination TEXT NOT NULL, verify INTEGER NOT NULL,
                state TEXT NOT NULL, attempts INTEGER NOT NULL, bytes INTEGER NOT NULL, size INTEGER, error TEXT,
                submitted INTEGER NOT NULL, started INTEGER, finished INTEGER);
            CREATE INDEX IF NOT EXISTS transfers_owner ON transfers (owner, submitted);
            """;
        command.ExecuteNonQuery();
        // Stores made before tokens were kept get the columns (no copy in them has tokens: they end as failed).
        command.CommandText = "SELECT COUNT(*) FROM pragma_table_info('transfers') WHERE name = 'source_token'";
        if (Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) == 0)
        {
            command.CommandText = "ALTER TABLE transfers ADD COLUMN source_token BLOB; ALTER TABLE transfers ADD COLUMN destination_token BLOB;";
            command.ExecuteNonQuery();
        }
    }

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        return connection;
    }

    private const string Columns = "id, owner, source, destination, verify, state, attempts, bytes, size, error, submitted, started, finished";

    private const string Values = "$id, $owner, $source, $destination, $verify, $state, $attempts, $bytes, $size, $error, $submitted, $started, $finished";

    /// <summary>Records a job's new state; one that has ended loses its tokens.</summary>
    public void Save(TransferJob job)
    {
        ArgumentNullException.ThrowIfNull(job);
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"""
            INSERT INTO transfers ({Columns}) VALUES ({Values})
            ON CONFLICT (id) DO UPDATE SET state = excluded.state, attempts = excluded.attempts, bytes = excluded.bytes, size = excluded.size,
                error = excluded.error, started = excluded.started, finished = excluded.finished{(IsFinal(job.State) ? ", source_token = NULL, destination_token = NULL" : "")}
            """;
        Bind(command, job);
        command.ExecuteNonQuery();
    }

    private static bool IsFinal(string state) => state is "done" or "failed";

    /// <summary>Records a new job with its protected tokens; false when its id is taken (the same request id sent twice).</summary>
    public bool TryInsert(TransferJob job, byte[]? sourceToken, byte[]? destinationToken)
    {
        try
        {
            using var connection = Open();
            using var command = connection.CreateCommand();
            command.CommandText = $"INSERT INTO transfers ({Columns}, source_token, destination_token) VALUES ({Values}, $sourceToken, $destinationToken)";
            Bind(command, job);
            command.Parameters.AddWithValue("$sourceToken", (object?)sourceToken ?? DBNull.Value);
            command.Parameters.AddWithValue("$destinationToken", (object?)destinationToken ?? DBNull.Value);
            command.ExecuteNonQuery();
            return true;
        }
        catch (SqliteException ex) when (ex.SqliteErrorCode == 19)
        {
            return false; // SQLITE_CONSTRAINT: the id is taken, by an earlier request or one that raced this one
        }
    }

    private static void Bind(SqliteCommand command, TransferJob job)
    {
        ArgumentNullException.ThrowIfNull(job);
        command.Parameters.AddWithValue("$id", job.RequestId);
        command.Parameters.AddWithValue("$owner", job.Owner);
        command.Parameters.AddWithValue("$source", job.Source);
        command.Parameters.AddWithValue("$destination", job.Destination);
        command.Parameters.AddWithValue("$verify", job.VerifyChecksum ? 1 : 0);
        command.Parameters.AddWithValue("$state", job.State);
        command.Parameters.AddWithValue("$attempts", job.Attempts);
        command.Parameters.AddWithValue("$bytes", job.Bytes);
        command.Parameters.AddWithValue("$size", (object?)job.Size ?? DBNull.Value);
        command.Parameters.AddWithValue("$error", (object?)job.Error ?? DBNull.Value);
        command.Parameters.AddWithValue("$submitted", job.Submitted.ToUnixTimeMilliseconds());
        command.Parameters.AddWithValue("$started", (object?)job.Started?.ToUnixTimeMilliseconds() ?? DBNull.Value);
        command.Parameters.AddWithValue("$finished", (object?)job.Finished?.ToUnixTimeMilliseconds() ?? DBNull.Value);
    }

    public TransferJob? Get(string id) => Query("WHERE id = $id", ("$id", id)).FirstOrDefault();

    public List<TransferJob> List(string? owner, int limit) =>
        owner is null ? Query($"ORDER BY submitted DESC LIMIT {limit}") : Query($"WHERE owner = $owner ORDER BY submitted DESC LIMIT {limit}", ("$owner", owner));

    /// <summary>The copies a stopped service left queued or running, oldest first, with their protected tokens.</summary>
    public List<(TransferJob Job, byte[]? SourceToken, byte[]? DestinationToken)> Unfinished()
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {Columns}, source_token, destination_token FROM transfers WHERE state IN ('queued', 'running') ORDER BY submitted";
        using var reader = command.ExecuteReader();
        var unfinished = new List<(TransferJob, byte[]?, byte[]?)>();
        while (reader.Read())
        {
            unfinished.Add((Read(reader), reader.IsDBNull(13) ? null : (byte[])reader[13], reader.IsDBNull(14) ? null : (byte[])reader[14]));
        }

        return unfinished;
    }

    private List<TransferJob> Query(string where, params (string Name, object Value)[] parameters)
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
#pragma warning disable CA2100 // the SQL is ours; values are parameters
        command.CommandText = $"SELECT {Columns} FROM transfers {where}";
#pragma warning restore CA2100
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        using var reader = command.ExecuteReader();
        var jobs = new List<TransferJob>();
        while (reader.Read())
        {
            jobs.Add(Read(reader));
        }

        return jobs;
    }

    private static TransferJob Read(SqliteDataReader reader) => new(
        reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetInt32(4) != 0,
        reader.GetString(5), reader.GetInt32(6), reader.GetInt64(7), reader.IsDBNull(8) ? null : reader.GetInt64(8),
        reader.IsDBNull(9) ? null : reader.GetString(9), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(10)),
        reader.IsDBNull(11) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(11)),
        reader.IsDBNull(12) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(12)));
}
