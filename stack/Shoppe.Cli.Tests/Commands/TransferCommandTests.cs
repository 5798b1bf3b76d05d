extern alias transfer;

using System.Security.Cryptography;

namespace Shoppe.Cli.Tests.Commands;

/// <summary><c>shoppe transfer</c> between two real transfer services on loopback ports, as a user runs it.</summary>
public sealed class TransferCommandTests : IAsyncLifetime
{
    private readonly CliRun _cli = new();
    private TestService<transfer::Program> _a = null!;
    private TestService<transfer::Program> _b = null!;

    public ValueTask InitializeAsync()
    {
        // One signing key for both, as at one facility: a token for one is good at the other.
        var key = Path.Combine(_cli.Folder, "signing.key");
        _a = new TestService<transfer::Program>(Path.Combine(_cli.Folder, "a"), keyFile: key, port: 0);
        _b = new TestService<transfer::Program>(Path.Combine(_cli.Folder, "b"), keyFile: key, port: 0);
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await _a.DisposeAsync();
        await _b.DisposeAsync();
        _cli.Dispose();
    }

    [Fact]
    public async Task Transfer_QueuesFollowsAndReports()
    {
        var data = RandomNumberGenerator.GetBytes(1_000_000);
        var a = _a.CreateClient().BaseAddress!;
        var b = _b.CreateClient().BaseAddress!;
        var storage = Directory.CreateDirectory(Path.Combine(_a.DataRoot, "storage")).FullName;
        await File.WriteAllBytesAsync(Path.Combine(storage, "cli.bin"), data, TestContext.Current.CancellationToken);

        // The services listen on real ports: the CLI talks to them as it would.
        var (exit, output) = await _cli.ShoppeAsync(
            "transfer", new Uri(a, "/cli.bin").AbsoluteUri, new Uri(b, "/cli-copy.bin").AbsoluteUri, "--verify",
            "--source-token", _a.Token("alice", [], "storage.read:/"), "--destination-token", _b.Token("alice", [], "storage.create:/"),
            "--url", a.AbsoluteUri, "--token", _a.Token("alice"));

        Assert.True(exit == 0, output);
        Assert.Matches("Request [0-9a-f]{32}\\. Its logs: shoppe logs [0-9a-f]{32}", output);
        Assert.Contains("done: 1000000 bytes after 1 attempt(s)", output, StringComparison.Ordinal);
        Assert.Equal(data, await File.ReadAllBytesAsync(Path.Combine(_b.DataRoot, "storage", "cli-copy.bin"), TestContext.Current.CancellationToken));
    }
}
