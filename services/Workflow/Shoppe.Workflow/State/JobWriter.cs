using System.Data.Common;
using Npgsql;
using NpgsqlTypes;

namespace Shoppe.Workflow.State;

/// <summary>
/// Writes a submission's jobs and edges in bulk inside its transaction: binary COPY on PostgreSQL, one prepared
/// INSERT reused on SQLite. Rows arrive as the document streams in; nothing is visible until the transaction commits.
/// </summary>
internal abstract class JobWriter : IAsyncDisposable
{
    public static async Task<JobWriter> OpenAsync(WorkflowStore store, DbConnection connection, DbTransaction transaction, long workflowKey, CancellationToken cancellationToken)
    {
        if (connection is NpgsqlConnection postgres)
        {
            var importer = await postgres.BeginBinaryImportAsync(
                "COPY jobs (wf, idx, work_idx, runner, state, deps_left, attempts, name, args, files) FROM STDIN (FORMAT BINARY)", cancellationToken);
            return new PostgresJobWriter(postgres, importer, workflowKey);
        }

        _ = store;
        var writer = new SqliteJobWriter(connection, transaction, workflowKey);
        await writer.PrepareAsync(cancellationToken);
        return writer;
    }

    public abstract ValueTask AddJobAsync(long idx, int work, int runner, int state, int depsLeft, string? name, string? args, string? files, CancellationToken cancellationToken);

    /// <summary>Ends the job rows and writes the edges (parent → child), after every job is in.</summary>
    public abstract Task WriteEdgesAsync(IReadOnlyList<long> parents, IReadOnlyList<long> children, CancellationToken cancellationToken);

    public abstract ValueTask DisposeAsync();

    private sealed class PostgresJobWriter(NpgsqlConnection connection, NpgsqlBinaryImporter jobs, long workflowKey) : JobWriter
    {
        private bool _jobsDone;

        public override async ValueTask AddJobAsync(long idx, int work, int runner, int state, int depsLeft, string? name, string? args, string? files, CancellationToken cancellationToken)
        {
            await jobs.StartRowAsync(cancellationToken);
            await jobs.WriteAsync(workflowKey, NpgsqlDbType.Bigint, cancellationToken);
            await jobs.WriteAsync(idx, NpgsqlDbType.Bigint, cancellationToken);
            await jobs.WriteAsync(work, NpgsqlDbType.Integer, cancellationToken);
            await jobs.WriteAsync((short)runner, NpgsqlDbType.Smallint, cancellationToken);
            await jobs.WriteAsync((short)state, NpgsqlDbType.Smallint, cancellationToken);
            await jobs.WriteAsync(depsLeft, NpgsqlDbType.Integer, cancellationToken);
            await jobs.WriteAsync(0, NpgsqlDbType.Integer, cancellationToken);
            await WriteNullableAsync(name, cancellationToken);
            await WriteNullableAsync(args, cancellationToken);
            await WriteNullableAsync(files, cancellationToken);
        }

        private async Task WriteNullableAsync(string? value, CancellationToken cancellationToken)
        {
            if (value is null)
            {
                await jobs.WriteNullAsync(cancellationToken);
            }
            else
            {
                await jobs.WriteAsync(value, NpgsqlDbType.Text, cancellationToken);
            }
        }

        public override async Task WriteEdgesAsync(IReadOnlyList<long> parents, IReadOnlyList<long> children, CancellationToken cancellationToken)
        {
            await jobs.CompleteAsync(cancellationToken);
            await jobs.DisposeAsync();
            _jobsDone = true;
            if (parents.Count == 0)
            {
                return;
            }

            await using var edges = await connection.BeginBinaryImportAsync("COPY edges (wf, parent, child) FROM STDIN (FORMAT BINARY)", cancellationToken);
            for (var i = 0; i < parents.Count; i++)
            {
                await edges.StartRowAsync(cancellationToken);
                await edges.WriteAsync(workflowKey, NpgsqlDbType.Bigint, cancellationToken);
                await edges.WriteAsync(parents[i], NpgsqlDbType.Bigint, cancellationToken);
                await edges.WriteAsync(children[i], NpgsqlDbType.Bigint, cancellationToken);
            }

            await edges.CompleteAsync(cancellationToken);
        }

        public override async ValueTask DisposeAsync()
        {
            if (!_jobsDone)
            {
                await jobs.DisposeAsync(); // Without Complete: the COPY is cancelled, and the transaction rolls back.
            }
        }
    }

    private sealed class SqliteJobWriter(DbConnection connection, DbTransaction transaction, long workflowKey) : JobWriter
    {
        private static readonly string[] Columns = ["idx", "work", "runner", "state", "deps", "name", "args", "files"];
        private DbCommand? _insert;
        private DbParameter[] _values = [];

        public async Task PrepareAsync(CancellationToken cancellationToken)
        {
            _insert = WorkflowStore.Command(connection, transaction,
                "INSERT INTO jobs (wf, idx, work_idx, runner, state, deps_left, attempts, name, args, files) VALUES (@wf, @idx, @work, @runner, @state, @deps, 0, @name, @args, @files)");
            WorkflowStore.Add(_insert, "wf", workflowKey);
            _values = Columns.Select(n => WorkflowStore.Add(_insert, n, 0)).ToArray();
            await _insert.PrepareAsync(cancellationToken);
        }

        public override async ValueTask AddJobAsync(long idx, int work, int runner, int state, int depsLeft, string? name, string? args, string? files, CancellationToken cancellationToken)
        {
            _values[0].Value = idx;
            _values[1].Value = work;
            _values[2].Value = runner;
            _values[3].Value = state;
            _values[4].Value = depsLeft;
            _values[5].Value = (object?)name ?? DBNull.Value;
            _values[6].Value = (object?)args ?? DBNull.Value;
            _values[7].Value = (object?)files ?? DBNull.Value;
            await _insert!.ExecuteNonQueryAsync(cancellationToken);
        }

        public override async Task WriteEdgesAsync(IReadOnlyList<long> parents, IReadOnlyList<long> children, CancellationToken cancellationToken)
        {
            await using var insert = WorkflowStore.Command(connection, transaction, "INSERT INTO edges (wf, parent, child) VALUES (@wf, @parent, @child)");
            WorkflowStore.Add(insert, "wf", workflowKey);
            var parent = WorkflowStore.Add(insert, "parent", 0L);
            var child = WorkflowStore.Add(insert, "child", 0L);
            await insert.PrepareAsync(cancellationToken);
            for (var i = 0; i < parents.Count; i++)
            {
                parent.Value = parents[i];
                child.Value = children[i];
                await insert.ExecuteNonQueryAsync(cancellationToken);
            }
        }

        public override async ValueTask DisposeAsync()
        {
            if (_insert is not null)
            {
                await _insert.DisposeAsync();
            }
        }
    }
}
