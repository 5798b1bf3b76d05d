using Shoppe.Columnar;
using Shoppe.Columnar.Io;
using Shoppe.Columnar.Selection;
using Shoppe.Security.Remotes;

namespace Shoppe.Delivery.Tasks;

/// <summary>
/// Where a file task's output goes. The transform writes <see cref="WorkPath"/>, which no user sees; the output
/// becomes visible under its final name all at once in <see cref="CommitAsync"/>, and only while the lease holds.
/// The service's own workers rename it into the output folder; a pilot uploads it to the service, which does.
/// </summary>
public interface IFileOutput
{
    /// <summary>Where the transform writes (a private name: a worker that dies leaves nothing a user sees).</summary>
    string WorkPath { get; }

    /// <summary>Puts an earlier output of the same query over the same version of the input in place and records it; null when there is none.</summary>
    /// <param name="identity">The input's version.</param>
    /// <param name="cancellationToken">Cancelled when the lease is lost or the worker stops.</param>
    /// <returns>The reused output's figures, or null.</returns>
    Task<TransformResult?> TryReuseAsync(string identity, CancellationToken cancellationToken);

    /// <summary>Makes <see cref="WorkPath"/> the output and records the file done; false when the lease was lost first.</summary>
    /// <param name="result">What the transform read and wrote.</param>
    /// <param name="identity">The input's version, when known.</param>
    /// <param name="cancellationToken">Cancelled when the lease is lost or the worker stops.</param>
    /// <returns>Whether the result was recorded.</returns>
    Task<bool> CommitAsync(TransformResult result, string? identity, CancellationToken cancellationToken);
}

/// <summary>How one file task ended.</summary>
/// <param name="Result">What it read and wrote (null when it failed).</param>
/// <param name="Reused">An earlier output was put in place instead of running the query.</param>
/// <param name="Error">Why it failed, for the user.</param>
/// <param name="Retry">The failure may pass on another try (the origin unreachable, a disk full).</param>
/// <param name="LeaseLost">The result came after the lease passed to another worker: nothing was recorded.</param>
public sealed record FileOutcome(TransformResult? Result, bool Reused = false, string? Error = null, bool Retry = false, bool LeaseLost = false);

/// <summary>
/// One input file of a transform, end to end: open it (through the cache, under the user policy), reuse an earlier
/// output or run the query, commit the output, and say how it went. The delivery service's workers and the pilots
/// run this same code; only <see cref="IFileOutput"/> differs (rename in place, or upload).
/// </summary>
public static class FileTask
{
    /// <summary>Runs <paramref name="spec"/>.</summary>
    /// <param name="spec">The file and the query.</param>
    /// <param name="opener">Opens the input.</param>
    /// <param name="output">Where the output goes.</param>
    /// <param name="cancellationToken">Cancelled when the lease is lost, the transform cancelled or the worker stops (the exception passes).</param>
    /// <returns>How it ended.</returns>
    public static async Task<FileOutcome> RunAsync(FileTaskSpec spec, FileOpener opener, IFileOutput output, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(opener);
        ArgumentNullException.ThrowIfNull(output);
        var name = Path.GetFileName(spec.Input.Split('?', '#')[0].TrimEnd('/'));
        try
        {
            if (spec.Access.Pushdown is { } node)
            {
                // Transformed on the node: only the selected columns of the passing events travel. No reuse: the
                // node's files have no identity here.
                var scanned = await PushdownInput.RunAsync(opener.Facility, node, spec, output.WorkPath, cancellationToken);
                try
                {
                    return await output.CommitAsync(scanned, null, cancellationToken) ? new FileOutcome(scanned) : new FileOutcome(null, LeaseLost: true);
                }
                finally
                {
                    TryDelete(output.WorkPath);
                }
            }

            using var input = await opener.OpenAsync(spec.Input, spec.Access, cancellationToken);
            if (spec.MayReuse && input.Identity is { } identity && await output.TryReuseAsync(identity, cancellationToken) is { } reused)
            {
                return new FileOutcome(reused, Reused: true);
            }

            var result = await Task.Run(() => FileTransform.Run(input, spec.Columns, spec.Filter, output.WorkPath, spec.OutputFormat, cancellationToken), cancellationToken);
            try
            {
                return await output.CommitAsync(result, input.Identity, cancellationToken) ? new FileOutcome(result) : new FileOutcome(null, LeaseLost: true);
            }
            finally
            {
                TryDelete(output.WorkPath);
            }
        }
        catch (LeaseLostException)
        {
            return new FileOutcome(null, LeaseLost: true);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            // Not ours: an HTTP timeout (the origin, the cache or the service stopped answering). It may pass.
            return new FileOutcome(null, Error: $"reading {spec.Input} timed out: {ex.Message}", Retry: true);
        }
        catch (ColumnarInputException ex)
        {
            // A remote the policy refuses stays refused: no second try.
            return new FileOutcome(null, Error: ex.Message, Retry: ex.IsTransient && RemoteNotAllowedException.FindIn(ex) is null);
        }
        catch (Exception ex) when (ex is SelectionException or ColumnarDataException)
        {
            return new FileOutcome(null, Error: $"{name}: {ex.Message}");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return new FileOutcome(null, Error: $"writing the output of {name} failed: {ex.Message}", Retry: true);
        }
        catch (HttpRequestException ex)
        {
            return new FileOutcome(null, Error: ex.Message, Retry: RemoteNotAllowedException.FindIn(ex) is null);
        }
#pragma warning disable CA1031 // one file's unexpected failure is that file's error, reported to its user; the worker goes on
        catch (Exception ex) when (ex is not OperationCanceledException and not System.Data.Common.DbException)
#pragma warning restore CA1031
        {
            return new FileOutcome(null, Error: $"{name}: {ex.GetType().Name}: {ex.Message}");
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // A leftover in a private name; the next attempt writes its own.
        }
        catch (UnauthorizedAccessException)
        {
            // Likewise.
        }
    }
}
