namespace Shoppe.Workflow.Slurm;

/// <summary>A batch job to submit through slurmrestd: what <c>sbatch</c> would be given.</summary>
public sealed record SlurmJobRequest
{
    /// <summary>The PATH a job gets when <see cref="Environment"/> gives none: slurmrestd passes no environment of its own.</summary>
    public const string DefaultPath = "/usr/local/bin:/usr/bin:/bin";

    /// <summary>The job's name (<c>--job-name</c>).</summary>
    public required string Name { get; init; }

    /// <summary>The batch script's whole text; Slurm wants it to start with <c>#!</c>.</summary>
    public required string Script { get; init; }

    /// <summary>Where the script runs (<c>--chdir</c>); its default output files go there too.</summary>
    public required string WorkingDirectory { get; init; }

    /// <summary>
    /// The job's whole environment (nothing is inherited from slurmrestd). PATH is <see cref="DefaultPath"/>
    /// unless given here.
    /// </summary>
    public IReadOnlyDictionary<string, string>? Environment { get; init; }

    /// <summary>CPUs per task (<c>--cpus-per-task</c>); the cluster's default (1) when null.</summary>
    public int? CpusPerTask { get; init; }

    /// <summary>Memory per node in MB (<c>--mem</c>); the cluster's default when null.</summary>
    public long? MemoryPerNodeMb { get; init; }

    /// <summary>GPUs per node; more than 0 asks for <c>--gres=gpu:N</c>.</summary>
    public int Gpus { get; init; }

    /// <summary>Run time limit in minutes (<c>--time</c>); the partition's when null.</summary>
    public int? TimeLimitMinutes { get; init; }

    /// <summary>Slurm job ids this job starts after, once each succeeded (<c>--dependency=afterok:…</c>).</summary>
    public IReadOnlyList<long>? AfterOk { get; init; }

    /// <summary>The script's standard output file (<c>--output</c>, with Slurm's <c>%j</c> patterns); slurm-%j.out when null.</summary>
    public string? StandardOutput { get; init; }

    /// <summary>The script's standard error file (<c>--error</c>); with standard output when null.</summary>
    public string? StandardError { get; init; }

    internal SlurmJobSubmission ToWire()
    {
        var environment = new Dictionary<string, string>(Environment ?? new Dictionary<string, string>(), StringComparer.Ordinal);
        environment.TryAdd("PATH", DefaultPath);
        return new SlurmJobSubmission
        {
            Script = Script,
            Job = new SlurmJobProperties
            {
                Name = Name,
                CurrentWorkingDirectory = WorkingDirectory,
                Environment = environment,
                CpusPerTask = CpusPerTask,
                MemoryPerNode = MemoryPerNodeMb,
                Gres = Gpus > 0 ? $"gpu:{Gpus}" : null,
                Dependency = AfterOk is { Count: > 0 } after ? "afterok:" + string.Join(':', after) : null,
                TimeLimit = TimeLimitMinutes,
                StandardOutput = StandardOutput,
                StandardError = StandardError,
            },
        };
    }
}
