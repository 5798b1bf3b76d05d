using System.Text;
using Shoppe.Testing;

namespace Shoppe.AppHost.Tests;

/// <summary>
/// The AppHost's fast up-to-date check (aspire/Shoppe.AppHost/FacilityUpToDate.targets), on a repository of two
/// projects laid out as ours is: a host in aspire/ that imports the check and references a service in services/ as an
/// Aspire project resource, built with the real `dotnet build`.
/// </summary>
public sealed class FacilityUpToDateTests : IAsyncLifetime
{
    private const string Building = "Shoppe: building the facility's services";
    private const string UpToDate = "Shoppe: the facility's services are up to date";
    private const string ServiceBuilt = "Svc -> ";
    private const string ServiceTouched = "Svc.csproj\" (";

    private readonly string _root = Path.Combine(Path.GetTempPath(), "shoppe-uptodate-" + Guid.NewGuid().ToString("N")[..8]);

    private string ServiceFolder => Path.Combine(_root, "services", "Svc");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public ValueTask InitializeAsync()
    {
        Write("Directory.Build.props", """
            <Project>
              <PropertyGroup>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <ManagePackageVersionsCentrally>false</ManagePackageVersionsCentrally>
              </PropertyGroup>
            </Project>
            """);
        Write("services/Svc/Svc.csproj", """<Project Sdk="Microsoft.NET.Sdk"><PropertyGroup><OutputType>Exe</OutputType></PropertyGroup></Project>""");
        Write("services/Svc/Program.cs", """Console.WriteLine("first");""");
        Write("aspire/Host/Host.csproj", """
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup><OutputType>Exe</OutputType></PropertyGroup>
              <ItemGroup Condition="'$(ExcludeRestorePackageImports)' != 'true'">
                <ProjectReference Include="../../services/Svc/Svc.csproj" IsAspireProjectResource="true" ReferenceOutputAssembly="false" />
              </ItemGroup>
              <Import Project="FacilityUpToDate.targets" />
            </Project>
            """);
        Write("aspire/Host/Program.cs", """Console.WriteLine("host");""");
        File.Copy(Path.Combine(Repository.Root, "aspire", "Shoppe.AppHost", "FacilityUpToDate.targets"), Path.Combine(_root, "aspire", "Host", "FacilityUpToDate.targets"));
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync() => await TestFolders.DeleteAsync(_root);

    [Fact]
    public async Task HostBuild_BuildsTheServicesOnlyWhenAnInputOfTheirsChanged()
    {
        // Never built (nor restored: the host's restore leaves the service out): built, restored on the way.
        var first = await BuildHostAsync();
        Assert.Contains(Building, first);
        Assert.Contains(ServiceBuilt, first);
        var serviceDll = Path.Combine(ServiceFolder, "bin", "Debug", "net10.0", "Svc.dll");
        Assert.True(File.Exists(serviceDll));

        // Nothing changed: the service is not even evaluated.
        var second = await BuildHostAsync();
        Assert.Contains(UpToDate, second);
        Assert.DoesNotContain(ServiceTouched, second);

        // A source edited: built again, with the edit in.
        Write("services/Svc/Program.cs", """Console.WriteLine("second edition");""");
        var edited = await BuildHostAsync();
        Assert.Contains(Building, edited);
        Assert.Contains("Program.cs", edited);
        Assert.True((await File.ReadAllBytesAsync(serviceDll, Ct)).AsSpan().IndexOf(Encoding.Unicode.GetBytes("second edition")) >= 0);
        Assert.Contains(UpToDate, await BuildHostAsync());

        // A file added with an old time (copied with its times kept): the set of inputs changed.
        Write("services/Svc/Extra.cs", "internal static class Extra { }");
        File.SetLastWriteTimeUtc(Path.Combine(ServiceFolder, "Extra.cs"), new DateTime(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc));
        Assert.Contains(Building, await BuildHostAsync());

        // The service's build output gone: built again.
        Directory.Delete(Path.Combine(ServiceFolder, "bin"), recursive: true);
        var rebuilt = await BuildHostAsync();
        Assert.Contains("no build output: Svc", rebuilt);
        Assert.True(File.Exists(serviceDll));

        // Asked to: always built.
        Assert.Contains(ServiceBuilt, await BuildHostAsync("-p:ShoppeFastUpToDate=false"));
    }

    private void Write(string relativePath, string text)
    {
        var path = Path.Combine(_root, relativePath);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
    }

    // Through env: a test run started by `dotnet test` may carry MSBuild's own paths, which a build of another tree must
    // not take; and no build server or node may outlive the test.
    private Task<string> BuildHostAsync(params string[] extra) => PeerProcess.RunAsync("env",
    [
        "-u", "MSBuildExtensionsPath", "-u", "MSBuildSDKsPath", "-u", "MSBUILD_EXE_PATH",
        "MSBUILDDISABLENODEREUSE=1", "DOTNET_CLI_USE_MSBUILD_SERVER=0", "UseSharedCompilation=false",
        "dotnet", "build", Path.Combine(_root, "aspire", "Host", "Host.csproj"), "-nologo", "-v:n", .. extra,
    ], Ct);
}
