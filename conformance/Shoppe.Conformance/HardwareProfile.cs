using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Shoppe.Conformance;

/// <summary>A block device as Linux describes it under /sys/block.</summary>
/// <param name="Name">The kernel's name (<c>nvme0n1</c>, <c>sda</c>, <c>vda</c>).</param>
/// <param name="Kind"><c>nvme</c>, <c>ssd</c> or <c>rotational</c> (virtual disks often say rotational).</param>
/// <param name="SizeBytes">Its size.</param>
/// <param name="Model">Its model, when the kernel knows it.</param>
public sealed record DiskInfo(string Name, string Kind, long SizeBytes, string? Model);

/// <summary>A GPU as nvidia-smi reports it.</summary>
public sealed record GpuInfo(string Name, long MemoryMiB, string? Driver);

/// <summary>
/// The hardware a run happened on: cores, memory, disks (and which one holds the data folder), GPUs. Gates
/// read it to decide what applies; certifications record it.
/// </summary>
public sealed record HardwareProfile(
    string Host, string Os, string Kernel, string Cpu, int Cores, long MemoryBytes,
    IReadOnlyList<DiskInfo> Disks, string? DataDisk, string? DataDiskKind, long DataFreeBytes, string DataFolder,
    IReadOnlyList<GpuInfo> Gpus, string Runtime)
{
    /// <summary>Whether the data folder is on an NVMe device.</summary>
    public bool DataOnNvme => DataDiskKind == "nvme";

    /// <summary>A one-line description for badges and summaries: "2 cores, 24 GiB, vda rotational, no GPU".</summary>
    public string Describe() =>
        string.Create(CultureInfo.InvariantCulture, $"{Cores} cores, {MemoryBytes / (1L << 30)} GiB, {DataDisk ?? "unknown disk"} {DataDiskKind ?? ""}").TrimEnd()
        + (Gpus.Count == 0 ? ", no GPU" : $", {Gpus.Count}x {Gpus[0].Name}");

    /// <summary>Detects the profile of this machine, with <paramref name="dataFolder"/> as the folder gates write to.</summary>
    public static HardwareProfile Detect(string dataFolder)
    {
        Directory.CreateDirectory(dataFolder);
        var disks = ReadDisks();
        var dataDisk = FindDisk(dataFolder);
        var kind = dataDisk is null ? null : disks.FirstOrDefault(d => d.Name == dataDisk)?.Kind;
        return new HardwareProfile(
            Environment.MachineName,
            RuntimeInformation.OSDescription,
            ReadFirstLine("/proc/sys/kernel/osrelease") ?? Environment.OSVersion.VersionString,
            ReadCpuModel() ?? RuntimeInformation.ProcessArchitecture.ToString(),
            Environment.ProcessorCount,
            ReadMemTotal() ?? GC.GetGCMemoryInfo().TotalAvailableMemoryBytes,
            disks,
            dataDisk,
            kind,
            new DriveInfo(dataFolder).AvailableFreeSpace,
            Path.GetFullPath(dataFolder),
            ReadGpus(),
            RuntimeInformation.FrameworkDescription);
    }

    /// <summary>The whole disks under <paramref name="sysBlock"/> (Linux's /sys/block; a test gives a tree of its own).</summary>
    internal static List<DiskInfo> ReadDisks(string sysBlock = "/sys/block")
    {
        var disks = new List<DiskInfo>();
        if (!Directory.Exists(sysBlock))
        {
            return disks;
        }

        foreach (var dir in Directory.GetDirectories(sysBlock).Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileName(dir);
            if (name.StartsWith("loop", StringComparison.Ordinal) || name.StartsWith("ram", StringComparison.Ordinal)
                || name.StartsWith("zram", StringComparison.Ordinal) || name.StartsWith("dm-", StringComparison.Ordinal))
            {
                continue;
            }

            var sectors = long.TryParse(ReadFirstLine(Path.Combine(dir, "size")), NumberStyles.None, CultureInfo.InvariantCulture, out var s) ? s : 0;
            var rotational = ReadFirstLine(Path.Combine(dir, "queue", "rotational")) == "1";
            var kind = name.StartsWith("nvme", StringComparison.Ordinal) ? "nvme" : rotational ? "rotational" : "ssd";
            disks.Add(new DiskInfo(name, kind, sectors * 512, ReadFirstLine(Path.Combine(dir, "device", "model"))));
        }

        return disks;
    }

    /// <summary>The whole disk under <paramref name="folder"/>: its mount's device number, through /sys/dev/block.</summary>
    private static string? FindDisk(string folder)
    {
        if (!File.Exists("/proc/self/mountinfo"))
        {
            return null;
        }

        var full = Path.GetFullPath(folder);
        string? device = null;
        var best = -1;
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            // "36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw": field 3 is major:minor, field 5 the mount point.
            var fields = line.Split(' ');
            if (fields.Length < 5)
            {
                continue;
            }

            var mount = fields[4].Replace("\\040", " ", StringComparison.Ordinal);
            var inside = full == mount || full.StartsWith(mount.TrimEnd('/') + "/", StringComparison.Ordinal);
            if (inside && mount.Length > best)
            {
                best = mount.Length;
                device = fields[2];
            }
        }

        if (device is null || !Directory.Exists($"/sys/dev/block/{device}"))
        {
            return null;
        }

        var target = new DirectoryInfo($"/sys/dev/block/{device}").ResolveLinkTarget(returnFinalTarget: true)?.FullName;
        if (target is null)
        {
            return null;
        }

        // A partition's folder sits inside its disk's: /sys/devices/.../block/nvme0n1/nvme0n1p1. A device-mapper
        // volume (LVM, dm-crypt) names what it sits on under slaves/: the first one decides the kind.
        for (var depth = 0; depth < 4 && Path.GetFileName(target).StartsWith("dm-", StringComparison.Ordinal); depth++)
        {
            var slaves = Path.Combine(target, "slaves");
            var first = Directory.Exists(slaves) ? Directory.GetDirectories(slaves).Order(StringComparer.Ordinal).FirstOrDefault() : null;
            var resolved = first is null ? null : new DirectoryInfo(first).ResolveLinkTarget(returnFinalTarget: true)?.FullName;
            if (resolved is null)
            {
                return null;
            }

            target = resolved;
        }

        return File.Exists(Path.Combine(target, "partition")) ? Path.GetFileName(Path.GetDirectoryName(target)) : Path.GetFileName(target);
    }

    private static string? ReadCpuModel() =>
        File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim()
            : null;

    private static long? ReadMemTotal()
    {
        var line = File.Exists("/proc/meminfo") ? File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemTotal:", StringComparison.Ordinal)) : null;
        var parts = line?.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return parts is { Length: >= 2 } && long.TryParse(parts[1], CultureInfo.InvariantCulture, out var kib) ? kib * 1024 : null;
    }

    /// <summary>GPUs from <c>nvidia-smi</c> when it is installed; none otherwise.</summary>
    private static List<GpuInfo> ReadGpus()
    {
        var gpus = new List<GpuInfo>();
        try
        {
            using var process = Process.Start(new ProcessStartInfo("nvidia-smi", "--query-gpu=name,memory.total,driver_version --format=csv,noheader,nounits")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            });
            if (process is null)
            {
                return gpus;
            }

            var reading = process.StandardOutput.ReadToEndAsync();
            _ = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(10_000))
            {
                // A wedged driver: no GPU this suite can rely on, and no hang.
                process.Kill(entireProcessTree: true);
                return gpus;
            }

            if (process.ExitCode != 0 || !reading.Wait(1000))
            {
                return gpus;
            }

            var output = reading.Result;

            foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var parts = line.Split(',', StringSplitOptions.TrimEntries);
                if (parts.Length >= 2)
                {
                    gpus.Add(new GpuInfo(parts[0], long.TryParse(parts[1], CultureInfo.InvariantCulture, out var mib) ? mib : 0, parts.ElementAtOrDefault(2)));
                }
            }
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // No nvidia-smi: no NVIDIA GPU this suite can use.
        }

        return gpus;
    }

    private static string? ReadFirstLine(string path)
    {
        try
        {
            return File.Exists(path) ? File.ReadLines(path).FirstOrDefault()?.Trim() : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
