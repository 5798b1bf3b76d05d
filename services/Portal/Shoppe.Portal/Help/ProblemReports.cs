using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Shoppe.Portal.Help;

/// <summary>A user's report of a problem with one of their requests, as kept for operators.</summary>
/// <param name="Id">The report's number in this portal.</param>
/// <param name="At">When it was made.</param>
/// <param name="User">Who made it.</param>
/// <param name="Kind">The request's kind (<c>delivery</c>, …).</param>
/// <param name="RequestId">The request it is about.</param>
/// <param name="Words">What the user wrote.</param>
/// <param name="Attachment">The request's state and last log lines as the portal read them when the report was made.</param>
/// <param name="IssueUrl">The issue it was filed as, where a repository is configured and filing succeeded.</param>
/// <param name="FilingProblem">Why filing it as an issue failed, where it did.</param>
public sealed record ProblemReport(long Id, DateTimeOffset At, string User, string Kind, string RequestId, string Words, string Attachment,
    string? IssueUrl, string? FilingProblem);

/// <summary>
/// The portal's store of problem reports: SQLite (<c>&lt;data root&gt;/reports.db</c>). A report is written before it is
/// filed anywhere else, so a failing issue tracker loses none.
/// </summary>
public sealed class ProblemReports
{
    private readonly string _connectionString;

    public ProblemReports(string path)
    {
        _connectionString = new SqliteConnectionStringBuilder { DataSource = path, Pooling = true, DefaultTimeout = 30 }.ToString();
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = """
            PRAGMA journal_mode=WAL;
            CREATE TABLE IF NOT EXISTS reports (
                id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, user TEXT NOT NULL, kind TEXT NOT NULL,
                request_id TEXT NOT NULL, words TEXT NOT NULL, attachment TEXT NOT NULL, issue_url TEXT, filing_problem TEXT);
            CREATE INDEX IF NOT EXISTS reports_request ON reports (request_id, id);
            """;
        command.ExecuteNonQuery();
    }

    private const string Columns = "id, at, user, kind, request_id, words, attachment, issue_url, filing_problem";

    /// <summary>Keeps a new report; returns it with its number.</summary>
    public ProblemReport Add(DateTimeOffset at, string user, string kind, string requestId, string words, string attachment)
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = """
            INSERT INTO reports (at, user, kind, request_id, words, attachment) VALUES ($at, $user, $kind, $request, $words, $attachment)
            RETURNING id
            """;
        command.Parameters.AddWithValue("$at", at.ToUnixTimeMilliseconds());
        command.Parameters.AddWithValue("$user", user);
        command.Parameters.AddWithValue("$kind", kind);
        command.Parameters.AddWithValue("$request", requestId);
        command.Parameters.AddWithValue("$words", words);
        command.Parameters.AddWithValue("$attachment", attachment);
        var id = Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture);
        return new ProblemReport(id, DateTimeOffset.FromUnixTimeMilliseconds(at.ToUnixTimeMilliseconds()), user, kind, requestId, words, attachment, null, null);
    }

    /// <summary>Records where a report was filed, or why it could not be.</summary>
    public void SetFiled(long id, string? issueUrl, string? problem)
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = "UPDATE reports SET issue_url = $url, filing_problem = $problem WHERE id = $id";
        command.Parameters.AddWithValue("$id", id);
        command.Parameters.AddWithValue("$url", (object?)issueUrl ?? DBNull.Value);
        command.Parameters.AddWithValue("$problem", (object?)problem ?? DBNull.Value);
        command.ExecuteNonQuery();
    }

    /// <summary>The reports about one request, newest first: <paramref name="user"/>'s own, or everyone's when null (an operator).</summary>
    public IReadOnlyList<ProblemReport> ForRequest(string requestId, string? user)
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {Columns} FROM reports WHERE request_id = $request AND ($user IS NULL OR user = $user) ORDER BY id DESC LIMIT 100";
        command.Parameters.AddWithValue("$request", requestId);
        command.Parameters.AddWithValue("$user", (object?)user ?? DBNull.Value);
        return Read(command);
    }

    /// <summary>Every report, newest first, a page at a time (operators').</summary>
    public IReadOnlyList<ProblemReport> Page(int skip, int take)
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {Columns} FROM reports ORDER BY id DESC LIMIT $take OFFSET $skip";
        command.Parameters.AddWithValue("$skip", skip);
        command.Parameters.AddWithValue("$take", take);
        return Read(command);
    }

    private static List<ProblemReport> Read(SqliteCommand command)
    {
        using var reader = command.ExecuteReader();
        var list = new List<ProblemReport>();
        while (reader.Read())
        {
            list.Add(new ProblemReport(
                reader.GetInt64(0),
                DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(1)),
                reader.GetString(2),
                reader.GetString(3),
                reader.GetString(4),
                reader.GetString(5),
                reader.GetString(6),
                reader.IsDBNull(7) ? null : reader.GetString(7),
                reader.IsDBNull(8) ? null : reader.GetString(8)));
        }

        return list;
    }

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        return connection;
    }
}
