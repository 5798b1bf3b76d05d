using System.Text.Json;
using static Shoppe.Logs.Tests.Otlp;

namespace Shoppe.Logs.Tests.Storage;

public sealed class RestartTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ServiceRestart_LosesNoAcknowledgedRecord()
    {
        var dataRoot = Directory.CreateTempSubdirectory("shoppe-logs-restart-").FullName;
        try
        {
            await RestartAsync(dataRoot);
        }
        finally
        {
            Directory.Delete(dataRoot, recursive: true);
        }
    }

    private static async Task RestartAsync(string dataRoot)
    {
        await using (var first = new LogsServiceFactory(dataRoot))
        {
            for (var batch = 0; batch < 20; batch++)
            {
                await first.ExportAsync(Batch("delivery", Enumerable.Range(0, 50)
                    .Select(i => new Rec($"record {batch}-{i}", "restart-1", 9, "alice", (batch * 50) + i)).ToArray()));
            }
        } // the service stops; everything acknowledged above must be on disk

        await using var second = new LogsServiceFactory(dataRoot);
        using var alice = second.ClientFor("alice");
        using var doc = JsonDocument.Parse(await alice.GetStringAsync("/v1/requests/restart-1/summary", Ct));

        Assert.Equal(1000, doc.RootElement.GetProperty("total").GetInt64());
        Assert.Equal("alice", doc.RootElement.GetProperty("owner").GetString());
    }
}
