using System.Diagnostics;
using System.IO.Compression;
using System.Reflection;
using System.Xml.Linq;

namespace Shoppe.Cli.Tests;

/// <summary>The CLI is a .NET tool: packed, it installs the command <c>shoppe</c> (eng/install-cli.sh).</summary>
public sealed class PackagingTests : IDisposable
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(3);

    private readonly string _folder = Directory.CreateTempSubdirectory("shoppe-cli-pack-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public async Task Pack_MakesAToolPackage_ThatInstallsTheCommandShoppe()
    {
        // The CLI this test run was built with (a project reference, same configuration): packed without building again.
        var configuration = typeof(PackagingTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()!.Configuration;
        var version = typeof(PackagingTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "ShoppeStackVersion").Value!;
        var project = Path.Combine(RepoRoot(), "stack", "Shoppe.Cli", "Shoppe.Cli.csproj");
        var packages = Path.Combine(_folder, "packages");
        await RunAsync("dotnet", "pack", project, "-c", configuration, "--no-build", "-o", packages, "-nologo");

        var package = Path.Combine(packages, $"Shoppe.Cli.{version}.nupkg");
        using (var zip = ZipFile.OpenRead(package))
        {
            var nuspec = XDocument.Load(zip.GetEntry("Shoppe.Cli.nuspec")!.Open());
            Assert.Contains(nuspec.Descendants(), e => e.Name.LocalName == "packageType" && (string?)e.Attribute("name") == "DotnetTool");
            var settings = XDocument.Load(zip.Entries.Single(e => e.Name == "DotnetToolSettings.xml").Open());
            var command = Assert.Single(settings.Descendants("Command"));
            Assert.Equal("shoppe", (string?)command.Attribute("Name"));
            Assert.Equal("shoppe.dll", (string?)command.Attribute("EntryPoint"));
        }

        // Installed as a user would (into a folder here, not the user's tools), it answers as `shoppe`.
        var tools = Path.Combine(_folder, "tools");
        await RunAsync("dotnet", "tool", "install", "--tool-path", tools, "--source", packages, "Shoppe.Cli", "--version", version);
        var answer = await RunAsync(Path.Combine(tools, OperatingSystem.IsWindows() ? "shoppe.exe" : "shoppe"), "token", "issue", "--help");
        Assert.Contains("shoppe token issue [options]", answer, StringComparison.Ordinal);
        Assert.Contains("--scope", answer, StringComparison.Ordinal);
    }

    private static string RepoRoot()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, "Shoppe.sln")))
            {
                return folder.FullName;
            }
        }

        throw new InvalidOperationException($"No Shoppe.sln above {AppContext.BaseDirectory}.");
    }

    /// <summary>Runs a program to its end; fails the test with its output unless it exits 0.</summary>
    private async Task<string> RunAsync(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = _folder };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(Ct);
        var stderr = process.StandardError.ReadToEndAsync(Ct);
        try
        {
            await process.WaitForExitAsync(Ct).WaitAsync(CommandTimeout, Ct);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        var output = await stdout + await stderr;
        Assert.True(process.ExitCode == 0, $"{program} {string.Join(' ', arguments)} exited {process.ExitCode}:\n{output}");
        return output;
    }
}
