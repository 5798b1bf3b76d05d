
namespace Shoppe.Conformance.Tests;

[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class HardwareTests
{
    [Fact]
    public void Profile_DescribesThisMachine()
    {
        var folder = Directory.CreateTempSubdirectory("shoppe-profile-").FullName;
        try
        {
            var profile = HardwareProfile.Detect(folder);
            Assert.Equal(Environment.ProcessorCount, profile.Cores);
            Assert.True(profile.MemoryBytes > 1L << 30);
            Assert.True(profile.DataFreeBytes > 0);
            // Which devices count as disks is checked on known inputs below; here, that this machine's are real ones.
            Assert.All(profile.Disks, d => Assert.True(Directory.Exists(Path.Combine("/sys/block", d.Name)), d.Name));
            Assert.All(profile.Disks, d => Assert.Contains(d.Kind, new[] { "nvme", "ssd", "rotational" }));
            if (profile.DataDisk is not null)
            {
                Assert.Contains(profile.Disks, d => d.Name == profile.DataDisk && d.Kind == profile.DataDiskKind);
            }

            if (!File.Exists("/usr/bin/nvidia-smi"))
            {
                Assert.Empty(profile.Gpus);
            }
            else
            {
                Assert.All(profile.Gpus, g => Assert.True(g.MemoryMiB > 0 && g.Name.Length > 0));
            }
            Assert.Contains($"{profile.Cores} cores", profile.Describe(), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void Disks_AreTheWholeDisks_WithTheirKindAndSize()
    {
        var sys = Directory.CreateTempSubdirectory("shoppe-sysblock-").FullName;
        try
        {
            void Device(string name, long sectors, string rotational, string? model = null)
            {
                var dir = Directory.CreateDirectory(Path.Combine(sys, name, "queue")).Parent!.FullName;
                File.WriteAllText(Path.Combine(dir, "size"), $"{sectors}\n");
                File.WriteAllText(Path.Combine(dir, "queue", "rotational"), rotational + "\n");
                if (model is not null)
                {
                    File.WriteAllText(Path.Combine(Directory.CreateDirectory(Path.Combine(dir, "device")).FullName, "model"), model + "\n");
                }
            }

            Device("nvme0n1", 2_000_000, "0", "Fast NVMe");
            Device("sda", 4_000_000, "1", "Spinning");
            Device("vdb", 1_000_000, "0");
            foreach (var virtualDevice in new[] { "loop0", "loop7", "ram0", "zram0", "dm-0" })
            {
                Device(virtualDevice, 100, "0");
            }

            var disks = HardwareProfile.ReadDisks(sys);

            Assert.Equal(["nvme0n1", "sda", "vdb"], disks.Select(d => d.Name));
            Assert.Equal(["nvme", "rotational", "ssd"], disks.Select(d => d.Kind));
            Assert.Equal([2_000_000L * 512, 4_000_000L * 512, 1_000_000L * 512], disks.Select(d => d.SizeBytes));
            Assert.Equal("Fast NVMe", disks[0].Model);
            Assert.Null(disks[2].Model);
            Assert.Empty(HardwareProfile.ReadDisks(Path.Combine(sys, "absent")));
        }
        finally
        {
            Directory.Delete(sys, recursive: true);
        }
    }

    [Fact]
    public void Gate_NeedingAbsentHardware_SaysWhy()
    {
        var profile = HardwareProfile.Detect(Path.GetTempPath()) with { Gpus = [], DataDiskKind = "rotational", DataDisk = "vda" };
        var gpu = new Gate("x.gpu", "transfer-pull", "loopback", 0.5, ["gpu"], null);
        var nvme = new Gate("x.nvme", "cache-warm-read", "disk.read", 0.5, ["nvme"], null);
        Assert.Equal("needs a GPU; nvidia-smi found none", gpu.MissingHardware(profile));
        Assert.Contains("vda (rotational)", nvme.MissingHardware(profile), StringComparison.Ordinal);
        Assert.Null(gpu.MissingHardware(profile with { Gpus = [new GpuInfo("NVIDIA H100", 81559, "550")] }));
        Assert.Null(nvme.MissingHardware(profile with { DataDiskKind = "nvme", DataDisk = "nvme0n1" }));
    }

    [Fact]
    public void GatesFile_InTheRepository_IsValid_AndBadOnesAreRefusedWithTheReason()
    {
        var set = GateSet.Load(Path.Combine(Repository.Root, "conformance", "gates.json"));
        Assert.True(set.Version >= 1);
        Assert.Contains(set.Gates, g => g.Requires.Contains("nvme"));

        var bad = Path.GetTempFileName();
        try
        {
            File.WriteAllText(bad, """{"version":1,"sampleMiB":64,"gates":[{"id":"a","measure":"cache-warm-read","limit":"disk.speed","minRatio":0.5,"requires":[]}]}""");
            var error = Assert.Throws<InvalidDataException>(() => GateSet.Load(bad));
            Assert.Contains("'disk.speed' is not a limit", error.Message, StringComparison.Ordinal);
            File.WriteAllText(bad, """{"version":1,"sampleMiB":64,"gates":[{"id":"a","measure":"cache-warm-reads","limit":"disk.read","minRatio":0.5,"requires":[]}]}""");
            Assert.Contains("measures 'cache-warm-reads'", Assert.Throws<InvalidDataException>(() => GateSet.Load(bad)).Message, StringComparison.Ordinal);
            File.WriteAllText(bad, """{"version":1,"sampleMiB":64,"gates":[{"id":"a","measure":"cache-warm-read","limit":"disk.read","minRatio":0.5,"requires":["nvmee"]}]}""");
            Assert.Contains("requires 'nvmee'", Assert.Throws<InvalidDataException>(() => GateSet.Load(bad)).Message, StringComparison.Ordinal);
            File.WriteAllText(bad, "{ not json");
            Assert.Throws<InvalidDataException>(() => GateSet.Load(bad));
        }
        finally
        {
            File.Delete(bad);
        }
    }

    [Fact]
    public async Task Containers_WithoutADockerEngine_AreNotApplicable_WithTheReason_NeverPassed()
    {
        var folder = Directory.CreateTempSubdirectory("shoppe-containers-").FullName;
        try
        {
            await using var containers = new ContainerEnvironment(folder, folder, Path.Combine(folder, "run"), "0.1.0", "unix:///nonexistent/docker.sock");
            var gates = GateSet.Load(Path.Combine(Repository.Root, "conformance", "gates.json"));
            var report = await ConformanceRun.RunAsync(containers, null, gates, folder, new Progress<string>(), TestContext.Current.CancellationToken);
            var only = Assert.Single(report.Checks);
            Assert.Equal(Outcome.NotApplicable, only.Outcome);
            Assert.Contains("nothing listens at unix:///nonexistent/docker.sock", only.Message, StringComparison.Ordinal);
            Assert.False(report.Certifies);
            Assert.Equal(new ResultSummary(0, 0, 1), report.Summary);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    // Controlled limits: the gate logic judged on figures chosen to pass and to fail (this machine's own verdict, in
    // LocalFacilityTests, is informational: shared VMs vary).
    private static readonly HardwareLimits KnownLimits = new(DiskWriteMiBs: 400, DiskReadMiBs: 2000, MemoryCopyMiBs: 8000, LoopbackMiBs: 1000, SampleBytes: 1 << 20);

    [Theory]
    [InlineData("disk.read", 0.5, 999, Outcome.Failed)]
    [InlineData("disk.read", 0.5, 1000, Outcome.Passed)]
    [InlineData("disk.read", 0.5, 1800, Outcome.Passed)]
    [InlineData("loopback|disk.write", 0.9, 350, Outcome.Failed)]
    [InlineData("loopback|disk.write", 0.9, 360, Outcome.Passed)]
    [InlineData("memory.copy", 1.0, 7999, Outcome.Failed)]
    public void Gate_JudgesTheRatioToItsLimit(string limit, double minRatio, double measured, Outcome expected)
    {
        var gate = new Gate("x.gate", "cache-warm-read", limit, minRatio, [], null);

        var result = PerformanceGates.Judge(gate, measured, KnownLimits, seconds: 1.5);

        Assert.Equal(expected, result.Outcome);
        Assert.Equal(KnownLimits.Named(limit), result.Limit);
        Assert.Equal(measured / KnownLimits.Named(limit), result.Ratio!.Value, 9);
        Assert.Equal(minRatio, result.Threshold);
        Assert.Contains($"needs >= {minRatio:F2}", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Gate_WithAnUnknownLimit_IsRefusedWithTheNames() =>
        Assert.Contains("use disk.read, disk.write, memory.copy or loopback",
            Assert.Throws<ArgumentException>(() => PerformanceGates.Judge(new Gate("x", "cache-warm-read", "disk.speed", 1, [], null), 100, KnownLimits, 1)).Message,
            StringComparison.Ordinal);

    [Fact]
    public async Task Limits_AreMeasured_AndNamedLimitsTakeTheSmaller()
    {
        var folder = Directory.CreateTempSubdirectory("shoppe-limits-").FullName;
        try
        {
            var limits = await HardwareLimits.MeasureAsync(folder, 32L << 20, TestContext.Current.CancellationToken);
            Assert.True(limits.DiskWriteMiBs > 0 && limits.DiskReadMiBs > 0 && limits.MemoryCopyMiBs > 0 && limits.LoopbackMiBs > 0);
            Assert.Equal(Math.Min(limits.LoopbackMiBs, limits.DiskWriteMiBs), limits.Named("loopback|disk.write"));
            Assert.Empty(Directory.GetFiles(folder)); // the scratch file is gone
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
