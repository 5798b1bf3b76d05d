using System.Text.Json;

namespace Shoppe.Testing.Workflow;

/// <summary>
/// The layered random DAG of the workflow benchmark and its Dask peer
/// (services/Workflow/Shoppe.Workflow.Benchmarks/peers/dask_dag.py computes the same edges): N jobs in layers of
/// width W; a job of layer l ≥ 1 waits for F jobs of layer l − 1 drawn with splitmix64 (duplicates dropped), so fan-in
/// is F and fan-out varies. Every job is a no-op.
/// </summary>
public sealed class LayeredDag(long jobs, int width, int fanIn = 2, ulong seed = 1)
{
    public long Jobs => jobs;

    /// <summary>The parents of job <paramref name="i"/>, ascending.</summary>
    public IReadOnlyList<long> Parents(long i)
    {
        var layer = i / width;
        if (layer == 0)
        {
            return [];
        }

        var parents = new SortedSet<long>();
        for (var k = 0; k < fanIn; k++)
        {
            parents.Add(((layer - 1) * width) + (long)(SplitMix64(seed ^ (ulong)((i * fanIn) + k)) % (ulong)width));
        }

        return [.. parents];
    }

    /// <summary>The edge count and the checksum the Dask peer prints: Σ (child · 1000003 + parent) mod 2⁶⁴.</summary>
    public (long Edges, ulong Checksum) Checksum()
    {
        var edges = 0L;
        var sum = 0UL;
        for (var i = 0L; i < jobs; i++)
        {
            foreach (var parent in Parents(i))
            {
                edges++;
                sum += ((ulong)i * 1000003UL) + (ulong)parent;
            }
        }

        return (edges, sum);
    }

    public static ulong SplitMix64(ulong x)
    {
        var z = x + 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Writes the DAG as a workflow document (one <c>noop</c> work, jobs named <c>j0</c>…), streaming.</summary>
    public async Task WriteDocumentAsync(Stream stream, string name, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(stream);
        await using var writer = new Utf8JsonWriter(stream);
        writer.WriteStartObject();
        writer.WriteString("name", name);
        writer.WriteStartArray("works");
        writer.WriteStartObject();
        writer.WriteString("name", "noop");
        writer.WriteString("action", "noop");
        writer.WriteEndObject();
        writer.WriteEndArray();
        writer.WriteStartArray("jobs");
        for (var i = 0L; i < jobs; i++)
        {
            writer.WriteStartObject();
            writer.WriteString("name", $"j{i}");
            writer.WriteString("work", "noop");
            var parents = Parents(i);
            if (parents.Count > 0)
            {
                writer.WriteStartArray("after");
                foreach (var parent in parents)
                {
                    writer.WriteStringValue($"j{parent}");
                }

                writer.WriteEndArray();
            }

            writer.WriteEndObject();
            if (writer.BytesPending > 1 << 16)
            {
                await writer.FlushAsync(cancellationToken);
            }
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
        await writer.FlushAsync(cancellationToken);
    }
}
