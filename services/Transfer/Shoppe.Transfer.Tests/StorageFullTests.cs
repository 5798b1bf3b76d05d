using System.Net;
using System.Security.Cryptography;

namespace Shoppe.Transfer.Tests;

/// <summary>
/// The storage root on a real 6 MiB file system (a tmpfs mounted for the test): an upload or a pull too large for it
/// is refused before its bytes are sent (space is reserved for the whole file first), leaves nothing, and the
/// endpoint goes on taking what fits.
/// </summary>
public sealed class StorageFullTests : IAsyncLifetime
{
    private readonly string _work = Directory.CreateTempSubdirectory("shoppe-storagefull-").FullName;
    private SmallDisk? _disk;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        if (_disk is not null)
        {
            await _disk.DisposeAsync();
        }

        await TestFolders.DeleteAsync(_work);
    }

    [Fact]
    public async Task PutAndPull_LargerThanTheDisk_AreRefusedAndLeaveNothing()
    {
        _disk = await SmallDisk.MountAsync(_work, "6m", Ct);
        var disk = _disk.Path;
        var key = Path.Combine(_work, "signing.key");
        await using var source = new TransferServiceFactory(Path.Combine(_work, "source"), key);
        Directory.CreateDirectory(source.Storage);
        await File.WriteAllBytesAsync(Path.Combine(source.Storage, "big.bin"), RandomNumberGenerator.GetBytes(10 << 20), Ct);
        await using var small = new TransferServiceFactory(Path.Combine(_work, "small"), key, new Dictionary<string, string?> { ["Transfer:Root"] = disk });
        using var client = small.ClientWith("storage.modify:/");

        using (var put = await client.PutAsync("/too-big.bin", new ByteArrayContent(new byte[10 << 20]), Ct))
        {
            Assert.Equal(HttpStatusCode.InsufficientStorage, put.StatusCode);
            Assert.Contains("not enough free space", await put.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        }

        using var copy = new HttpRequestMessage(new HttpMethod("COPY"), "/pulled.bin");
        copy.Headers.TryAddWithoutValidation("Source", new Uri(source.Url, "/big.bin").ToString());
        copy.Headers.TryAddWithoutValidation("TransferHeaderAuthorization", "Bearer " + source.Token("alice", "storage.read:/"));
        using (var pull = await client.SendAsync(copy, Ct))
        {
            Assert.Contains("failure: There is not enough free space for 10485760 bytes.", await pull.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        }

        Assert.Empty(Directory.EnumerateFileSystemEntries(disk));
        using var fits = await client.PutAsync("/fits.bin", new ByteArrayContent(new byte[1 << 20]), Ct);
        Assert.Equal(HttpStatusCode.Created, fits.StatusCode);
    }
}
