using System.Diagnostics;

namespace Shoppe.Testing;

/// <summary>
/// A real, throwaway PostgreSQL cluster for the tests: initdb into a temporary folder, pg_ctl start on a free
/// loopback port, removed at the end. eng/install-test-deps.sh installs the server (Debian's postgresql).
/// Run as root (CI is), the server runs as the postgres user, as PostgreSQL requires.
/// </summary>
public sealed class PostgresServer : IAsyncLifetime
{
    private string? _folder;
    private string? _bin;

    public string ConnectionString { get; private set; } = "";

    /// <summary>Why the server could not start here (no PostgreSQL installed), or null when it runs.</summary>
    public string? Unavailable { get; private set; }

    public async ValueTask InitializeAsync()
    {
        _bin = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin")).Where(d => File.Exists(Path.Combine(d, "pg_ctl"))).OrderDescending().FirstOrDefault()
            : null;
        if (_bin is null)
        {
            Unavailable = "PostgreSQL is not installed (eng/install-test-deps.sh installs it)";
            return;
        }

        _folder = Directory.CreateTempSubdirectory("shoppe-pg-").FullName;
        var data = Path.Combine(_folder, "data");
        var root = Environment.UserName == "root";
        if (root)
        {
            await RunAsync("chown", ["-R", "postgres:postgres", _folder]);
        }

        var port = Loopback.FreePort();
        await RunAsync(Path.Combine(_bin, "initdb"), ["-D", data, "-U", "shoppe", "--auth=trust", "-E", "UTF8", "--no-sync"], root);
        await RunAsync(Path.Combine(_bin, "pg_ctl"), ["-D", data, "-w", "-t", "60", "-l", Path.Combine(_folder, "server.log"),
            "-o", $"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={_folder} -c fsync=off", "start"], root);
        ConnectionString = $"Host=127.0.0.1;Port={port};Username=shoppe;Database=postgres;Pooling=true";
    }

    /// <summary>A fresh database of its own, so tests do not see each other's transforms.</summary>
    public async Task<string> CreateDatabaseAsync()
    {
        var name = "t" + Guid.NewGuid().ToString("N")[..12];
        await using var source = Npgsql.NpgsqlDataSource.Create(ConnectionString);
        await using var command = source.CreateCommand($"CREATE DATABASE {name}");
        await command.ExecuteNonQueryAsync();
        return ConnectionString.Replace("Database=postgres", $"Database={name}", StringComparison.Ordinal);
    }

    private static async Task RunAsync(string program, string[] arguments, bool asPostgres = false)
    {
        var start = asPostgres ? new ProcessStartInfo("runuser", ["-u", "postgres", "--", program, .. arguments]) : new ProcessStartInfo(program, arguments);
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(2));
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{Path.GetFileName(program)} failed ({process.ExitCode}): {await error}{await output}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_folder is null || _bin is null)
        {
            return;
        }

        try
        {
            await RunAsync(Path.Combine(_bin, "pg_ctl"), ["-D", Path.Combine(_folder, "data"), "-m", "immediate", "-w", "stop"], Environment.UserName == "root");
        }
        catch (InvalidOperationException)
        {
            // Already stopped.
        }

        Directory.Delete(_folder, recursive: true);
    }
}
