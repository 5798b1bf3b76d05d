using System.Diagnostics;

namespace Shoppe.Testing;

/// <summary>
/// A small real file system (a tmpfs mounted for one test) to fill: a full disk without filling the machine's.
/// Skips the test where mounting is refused (not root).
/// </summary>
public sealed class SmallDisk : IAsyncDisposable
{
    private SmallDisk(string path) => Path = path;

    /// <summary>Where it is mounted.</summary>
    public string Path { get; }

    /// <summary>Mounts a tmpfs of <paramref name="size"/> (mount's words: 6m) at a new folder under <paramref name="parent"/>.</summary>
    public static async Task<SmallDisk> MountAsync(string parent, string size, CancellationToken cancellationToken)
    {
        var mountPoint = Directory.CreateDirectory(System.IO.Path.Combine(parent, "disk")).FullName;
        var start = new ProcessStartInfo("mount", ["-t", "tmpfs", "-o", $"size={size}", "tmpfs", mountPoint]) { RedirectStandardError = true };
        using var mount = Process.Start(start)!;
        var error = await mount.StandardError.ReadToEndAsync(cancellationToken);
        await mount.WaitForExitAsync(cancellationToken);
        if (mount.ExitCode != 0)
        {
            Assert.Skip($"A full disk needs a small file system to fill, and mounting a tmpfs was refused here ({error.Trim()}); run the tests as root.");
        }

        return new SmallDisk(mountPoint);
    }

    public async ValueTask DisposeAsync()
    {
        using var umount = Process.Start("umount", [Path]);
        await umount!.WaitForExitAsync();
    }
}
