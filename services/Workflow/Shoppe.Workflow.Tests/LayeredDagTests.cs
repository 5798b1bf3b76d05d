using Shoppe.Testing.Workflow;

namespace Shoppe.Workflow.Tests;

/// <summary>The benchmark's DAG is the one its Dask peer builds: the same edges, checked by the peer's checksums.</summary>
public sealed class LayeredDagTests
{
    [Theory]
    [InlineData(1000, 10, 1UL, 1883, 948991777017UL)]
    [InlineData(100_000, 1000, 42UL, 197891, 9993287928048892UL)]
    public void Checksum_MatchesTheDaskPeers(long jobs, int width, ulong seed, long edges, ulong checksum) =>
        Assert.Equal((edges, checksum), new LayeredDag(jobs, width, 2, seed).Checksum());

    [Fact]
    public void SplitMix64_IsThePublishedGenerator() => Assert.Equal(0xe220a8397b1dcdafUL, LayeredDag.SplitMix64(0));
}
