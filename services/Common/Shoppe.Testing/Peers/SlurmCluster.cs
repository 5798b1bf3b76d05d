namespace Shoppe.Testing;

/// <summary>
/// A real, throwaway one-node Slurm cluster for the tests: eng/slurm-cluster.sh starts munged, slurmctld, slurmd and
/// slurmrestd (JWT, openapi/v0.0.38) in a temporary folder, all on 127.0.0.1, and stops them at the end.
/// eng/install-test-deps.sh installs Slurm. Run as root (CI is): slurmd starts each job as its user, and jobs run as
/// root (<see cref="UserName"/>), so that they may write wherever the tests do.
/// </summary>
public sealed class SlurmCluster : IAsyncLifetime
{
    private static readonly string[] Programs = ["/usr/sbin/munged", "/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/sbin/slurmrestd", "/usr/bin/scontrol"];

    private string? _folder;

    /// <summary>slurmrestd's address, <c>http://127.0.0.1:port</c>.</summary>
    public string RestUrl { get; private set; } = "";

    /// <summary>The cluster's slurm.conf: SLURM_CONF for scontrol, sbatch and the rest.</summary>
    public string SlurmConf { get; private set; } = "";

    /// <summary>The user jobs are submitted as, and tokens are minted for.</summary>
    public string UserName { get; } = "root";

    /// <summary>Why the cluster could not start here (Slurm not installed, or not root), or null when it runs.</summary>
    public string? Unavailable { get; private set; }

    /// <summary>Its folder: configuration, state, logs (log/*.log) and the folders of <see cref="CreateJobFolder"/>.</summary>
    public string Folder => _folder ?? throw new InvalidOperationException(Unavailable ?? "The cluster has not started.");

    /// <inheritdoc/>
    public async ValueTask InitializeAsync()
    {
        if (Programs.FirstOrDefault(p => !File.Exists(p)) is { } missing)
        {
            Unavailable = $"Slurm is not installed ({missing} is missing; eng/install-test-deps.sh installs slurm-wlm, slurmrestd and munge)";
            return;
        }

        if (Environment.UserName != "root")
        {
            Unavailable = "the Slurm cluster needs root (slurmd starts jobs as their users); CI runs the tests as root";
            return;
        }

        var folder = Directory.CreateTempSubdirectory("shoppe-slurm-").FullName;
        try
        {
            // The script's error output ends with the daemons' log tails when one did not come up.
            await PeerProcess.RunAsync("bash", [Path.Combine(Repository.Root, "eng", "slurm-cluster.sh"), "start", folder], TestContext.Current.CancellationToken);
        }
        catch
        {
            await TestFolders.DeleteAsync(folder);
            throw;
        }

        _folder = folder;
        var settings = File.ReadLines(Path.Combine(_folder, "cluster.env"))
            .Where(l => !l.StartsWith('#') && l.Contains('=', StringComparison.Ordinal))
            .Select(l => l.Split('=', 2))
            .ToDictionary(p => p[0], p => p[1].Trim('\'', '"'), StringComparer.Ordinal);
        RestUrl = settings["SLURM_REST_URL"];
        SlurmConf = settings["SLURM_CONF"];
    }

    /// <summary>
    /// Ends the test when the cluster is unavailable: a failure in CI (CI=true), where eng/install-test-deps.sh has
    /// run and a missing Slurm is a broken machine, and a skip that says why elsewhere.
    /// </summary>
    public void RequireAvailable()
    {
        if (Unavailable is not { } why)
        {
            return;
        }

        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Assert.Fail($"{why} (CI=true: a missing Slurm fails the test)");
        }

        Assert.Skip(why);
    }

    /// <summary>A JWT for slurmrestd: <c>scontrol token username=NAME lifespan=S</c> with this cluster's SLURM_CONF.</summary>
    public async Task<string> MintTokenAsync(string? userName = null, TimeSpan? lifespan = null, CancellationToken cancellationToken = default)
    {
        var seconds = (long)(lifespan ?? TimeSpan.FromMinutes(10)).TotalSeconds;
        var output = await PeerProcess.RunAsync("env", [$"SLURM_CONF={SlurmConf}", "scontrol", "token", $"username={userName ?? UserName}", $"lifespan={seconds}"], cancellationToken);
        const string Prefix = "SLURM_JWT=";
        return output.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith(Prefix, StringComparison.Ordinal))?[Prefix.Length..]
            ?? throw new InvalidOperationException($"scontrol token printed no token: {output}");
    }

    /// <summary>A new empty folder for a job's files (its working directory, its output).</summary>
    public string CreateJobFolder() => Directory.CreateDirectory(Path.Combine(Folder, "jobs", Guid.NewGuid().ToString("N")[..12])).FullName;

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (_folder is null)
        {
            return;
        }

        await PeerProcess.RunAsync("bash", [Path.Combine(Repository.Root, "eng", "slurm-cluster.sh"), "stop", _folder]);
        await TestFolders.DeleteAsync(_folder);
    }
}
