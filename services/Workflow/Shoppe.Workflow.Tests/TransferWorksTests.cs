extern alias transfer;

using System.Text.Json.Nodes;

namespace Shoppe.Workflow.Tests;

/// <summary>
/// Stage-in and transfer works through a real transfer service: a collection staged from another site (an nginx
/// folder on loopback) whose files arrive as their copies finish, and a transfer work that copies a file onto the
/// facility's storage, each as the workflow's owner.
/// </summary>
public sealed class TransferWorksTests : IAsyncLifetime
{
    private readonly string _root = Directory.CreateTempSubdirectory("shoppe-workflow-transfer-").FullName;
    private PeerProcess _site = null!;
    private TestService<transfer::Program> _transfer = null!;
    private WorkflowServiceFactory _workflow = null!;
    private readonly CancellationTokenSource _pilot = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string Storage => Path.Combine(_transfer.DataRoot, "storage");

    public async ValueTask InitializeAsync()
    {
        var remote = Directory.CreateDirectory(Path.Combine(_root, "remote")).FullName;
        for (var i = 1; i <= 3; i++)
        {
            await File.WriteAllTextAsync(Path.Combine(remote, $"s{i}.dat"), $"sample {i}\n", Ct);
        }

        if (!OperatingSystem.IsWindows())
        {
            // nginx's workers read as another user: the "remote site" is readable by all, as a web root is.
            File.SetUnixFileMode(_root, (UnixFileMode)0b111_101_101);
            File.SetUnixFileMode(remote, (UnixFileMode)0b111_101_101);
            foreach (var file in Directory.GetFiles(remote))
            {
                File.SetUnixFileMode(file, (UnixFileMode)0b110_100_100);
            }
        }

        _site = await NginxPeer.ServeFolderAsync(Path.Combine(_root, "nginx"), "site", remote, Ct);
        var key = Path.Combine(_root, "signing.key");
        _transfer = new TestService<transfer::Program>(Path.Combine(_root, "transfer"), keyFile: key, port: 0);
        var transferUrl = _transfer.CreateClient().BaseAddress!;
        Directory.CreateDirectory(Storage);
        _workflow = new WorkflowServiceFactory(Path.Combine(_root, "workflow"), new Dictionary<string, string?>
        {
            ["Workflow:TransferUrl"] = transferUrl.AbsoluteUri,
            ["Workflow:TransferStorageRoot"] = Storage,
        }, keyFile: key);
        _ = _workflow.RunPilotAsync(Path.Combine(_root, "pilot"), _pilot.Token);
    }

    public async ValueTask DisposeAsync()
    {
        await _pilot.CancelAsync();
        _pilot.Dispose();
        await _workflow.DisposeAsync();
        await _transfer.DisposeAsync();
        await _site.DisposeAsync();
        await TestFolders.DeleteAsync(_root);
    }

    [Fact]
    public async Task StagedCollection_FilesArriveAsTheirCopiesFinish_ThenATransferWorkCopiesOut()
    {
        using var alice = _workflow.ClientFor("alice");
        var incoming = Path.Combine(Storage, "alice", "incoming");
        var transferUrl = _transfer.CreateClient().BaseAddress!.AbsoluteUri.TrimEnd('/');
        var id = await WorkflowServiceFactory.SubmitOkAsync(alice, $$"""
            {
              "collections": [ { "name": "tape", "stageFrom": "{{_site.Url}}", "folder": "{{incoming}}", "files": ["s1.dat", "s2.dat", "missing.dat"], "closed": true } ],
              "works": [
                { "name": "read", "action": "command", "forEach": { "collection": "tape" }, "command": { "argv": ["sh", "-c", "cat ${file} | tr -d '\\n' | sed 's/^/text=/' > $SHOPPE_OUTPUTS"] } },
                { "name": "publish", "action": "transfer", "after": ["read"], "when": { "work": "read", "is": "finished" },
                  "transfer": { "source": "{{_site.Url}}/s3.dat", "destination": "{{transferUrl}}/alice/outgoing/s3.dat" } }
              ]
            }
            """);
        var status = await WorkflowServiceFactory.WaitAsync(alice, id, TimeSpan.FromSeconds(90));

        // Another user's area of the storage is not alice's to stage into.
        using (var intoBob = await WorkflowServiceFactory.SubmitAsync(alice, $$"""
            { "collections": [ { "name": "t", "stageFrom": "{{_site.Url}}", "folder": "{{Path.Combine(Storage, "bob", "in")}}", "files": ["s1.dat"] } ],
              "works": [ { "name": "w", "action": "noop", "forEach": { "collection": "t" } } ] }
            """))
        {
            Assert.Equal(System.Net.HttpStatusCode.BadRequest, intoBob.StatusCode);
            Assert.Equal("/collections/0/folder", (await WorkflowServiceFactory.JsonAsync(intoBob))["element"]!.GetValue<string>());
        }

        var collection = status["collections"]![0]!;
        Assert.Equal(2, collection["arrived"]!.GetValue<long>());
        Assert.Equal(2, collection["processed"]!.GetValue<long>());
        Assert.Equal(1, collection["failed"]!.GetValue<long>()); // missing.dat: its copy failed (404 at the site)
        Assert.True(collection["outputClosed"]!.GetValue<bool>());
        Assert.Equal("sample 1\n", await File.ReadAllTextAsync(Path.Combine(incoming, "s1.dat"), Ct));
        var jobs = JsonNode.Parse(await alice.GetStringAsync($"/v1/workflows/{id}/jobs", Ct))!["jobs"]!.AsArray();
        Assert.Equal(["sample 1", "sample 2"], jobs.Where(j => j!["work"]!.GetValue<string>() == "read").Select(j => j!["outputs"]!["text"]!.GetValue<string>()).Order());

        Assert.Equal("succeeded", status["works"]!.AsArray().First(w => w!["name"]!.GetValue<string>() == "publish")!["state"]!.GetValue<string>());
        Assert.Equal("sample 3\n", await File.ReadAllTextAsync(Path.Combine(Storage, "alice", "outgoing", "s3.dat"), Ct));
    }
}
