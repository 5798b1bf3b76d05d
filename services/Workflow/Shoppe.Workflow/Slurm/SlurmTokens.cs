using System.Diagnostics;

namespace Shoppe.Workflow.Slurm;

/// <summary>
/// JWTs for slurmrestd, minted with <c>scontrol token</c> (auth/jwt with the cluster's key). Minting for another user
/// than oneself needs root or SlurmUser, as slurmctld checks it.
/// </summary>
public static class SlurmTokens
{
    private static readonly TimeSpan ScontrolTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Runs <c>scontrol token username=NAME lifespan=S</c> and returns the token it prints.</summary>
    /// <param name="slurmConf">The cluster's slurm.conf (SLURM_CONF), or null for scontrol's default.</param>
    /// <param name="userName">The user the token is for: the X-SLURM-USER-NAME sent with it.</param>
    /// <param name="lifespan">How long it is good for.</param>
    /// <param name="cancellationToken">Gives up (and ends scontrol).</param>
    /// <exception cref="SlurmException">scontrol failed or printed no token.</exception>
    public static async Task<string> MintAsync(string? slurmConf, string userName, TimeSpan lifespan, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(userName);
        var start = new ProcessStartInfo("scontrol", ["token", $"username={userName}", $"lifespan={(long)Math.Ceiling(lifespan.TotalSeconds)}"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        if (slurmConf is not null)
        {
            start.Environment["SLURM_CONF"] = slurmConf;
        }

        using var process = Process.Start(start) ?? throw new SlurmException("scontrol did not start.");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ScontrolTimeout);
        try
        {
            var output = process.StandardOutput.ReadToEndAsync(timeout.Token);
            var error = process.StandardError.ReadToEndAsync(timeout.Token);
            await process.WaitForExitAsync(timeout.Token);
            const string Prefix = "SLURM_JWT=";
            var token = (await output).Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith(Prefix, StringComparison.Ordinal))?[Prefix.Length..];
            if (process.ExitCode != 0 || string.IsNullOrEmpty(token))
            {
                throw new SlurmException($"scontrol token username={userName} exited {process.ExitCode}: {(await error).Trim()}");
            }

            return token;
        }
        catch (OperationCanceledException) when (!process.HasExited)
        {
            process.Kill();
            if (cancellationToken.IsCancellationRequested)
            {
                throw;
            }

            throw new SlurmException($"scontrol token did not answer in {ScontrolTimeout.TotalSeconds:0} s.");
        }
    }

    /// <summary>
    /// A token provider for <see cref="SlurmRestClient"/> that mints with <see cref="MintAsync"/> and mints again once
    /// half of a token's lifespan has passed, so that no request goes out with a token about to expire.
    /// </summary>
    public static Func<CancellationToken, ValueTask<string>> Refreshing(string? slurmConf, string userName, TimeSpan lifespan, TimeProvider? timeProvider = null) =>
        new RefreshingToken(slurmConf, userName, lifespan, timeProvider ?? TimeProvider.System).GetAsync;

    private sealed class RefreshingToken(string? slurmConf, string userName, TimeSpan lifespan, TimeProvider time)
    {
        private volatile Minted? _current;

        public ValueTask<string> GetAsync(CancellationToken cancellationToken)
        {
            var current = _current;
            if (current is null || current.Token.IsFaulted || current.Token.IsCanceled || time.GetElapsedTime(current.At) >= lifespan / 2)
            {
                // Two callers at once may both mint; either token is good. Not tied to one caller's cancellation: the
                // token is shared.
                current = new Minted(MintAsync(slurmConf, userName, lifespan, CancellationToken.None), time.GetTimestamp());
                _current = current;
            }

            return new ValueTask<string>(current.Token.WaitAsync(cancellationToken));
        }

        private sealed record Minted(Task<string> Token, long At);
    }
}
