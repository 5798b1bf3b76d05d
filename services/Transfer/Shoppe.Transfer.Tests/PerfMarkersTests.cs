using System.Text;
using Shoppe.Transfer.Tpc;

namespace Shoppe.Transfer.Tests;

public sealed class PerfMarkersTests
{
    private static Task<CopyOutcome> Read(string text, List<PerfMarker>? seen = null) =>
        PerfMarkers.ReadAsync(new MemoryStream(Encoding.ASCII.GetBytes(text)), seen is null ? null : seen.Add, TestContext.Current.CancellationToken);

    [Fact]
    public async Task Read_XrootdsExactBytes_MarkersAndSuccessWithoutANewline()
    {
        // As XRootD 5.5.3 sends them (LF only; the last line has no newline).
        var seen = new List<PerfMarker>();
        var outcome = await Read("Perf Marker\nTimestamp: 1795521188\nStripe Index: 0\nStripe Bytes Transferred: 0\nTotal Stripe Count: 1\nRemoteConnections: tcp:127.0.0.1:28081\nEnd\n"
            + "Perf Marker\nTimestamp: 1795521192\nStripe Index: 0\nStripe Bytes Transferred: 4194304\nTotal Stripe Count: 1\nRemoteConnections: tcp:127.0.0.1:28081\nEnd\nsuccess: Created", seen);

        Assert.True(outcome.Success);
        Assert.Equal([0L, 4194304L], seen.Select(m => m.BytesTransferred));
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1795521192), seen[1].Timestamp);
        Assert.Equal("tcp:127.0.0.1:28081", seen[0].RemoteConnections);
    }

    [Fact]
    public async Task Read_FailureLine_IsAFailureWithItsReason()
    {
        var outcome = await Read("Perf Marker\r\nTimestamp: 1\r\nStripe Bytes Transferred: 0\r\nEnd\r\nfailure: Remote side failed with status code 404\r\n");

        Assert.False(outcome.Success);
        Assert.Equal("Remote side failed with status code 404", outcome.Message);
        Assert.Single(outcome.Markers);
    }

    [Fact]
    public async Task Read_CutOffBody_IsAFailure()
    {
        var outcome = await Read("Perf Marker\nTimestamp: 1\nStripe Bytes");
        Assert.False(outcome.Success);
        Assert.Contains("without a success or failure line", outcome.Message, StringComparison.Ordinal);
    }
}
