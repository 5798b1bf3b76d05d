using System.Reflection;
using System.Xml.Linq;

namespace Shoppe.AppHost;

/// <summary>
/// Starts a project from what building the AppHost already built (its executable under
/// <c>&lt;project&gt;/bin/&lt;configuration&gt;/&lt;framework&gt;/</c>, the AppHost's own configuration and framework)
/// instead of Aspire's default <c>dotnet run --project</c>, which evaluates and checks the project with MSBuild again
/// for every process: seven services and two pilots took most of a minute to start on two cores.
/// </summary>
internal static class BuildOutputs
{
    /// <summary>
    /// Runs the project's built executable, in its output folder, as a published service runs; where no build of
    /// this configuration is there (never built), Aspire's <c>dotnet run</c> stays, which builds it.
    /// </summary>
    public static IResourceBuilder<ProjectResource> FromBuildOutput(this IResourceBuilder<ProjectResource> project)
    {
        var projectPath = project.Resource.GetProjectMetadata().ProjectPath;
        if (Executable(projectPath) is { } executable)
        {
            project.WithAnnotation(
                new ExecutableAnnotation { Command = executable, WorkingDirectory = Path.GetDirectoryName(executable)! },
                ResourceAnnotationMutationBehavior.Replace);
        }

        return project;
    }

    /// <summary>The project's built executable for the AppHost's configuration and framework, if it is there.</summary>
    internal static string? Executable(string projectPath)
    {
        // The AppHost runs from <AppHost>/bin/<configuration>/<framework>/: the services are built the same way.
        var own = new DirectoryInfo(AppContext.BaseDirectory);
        var configuration = typeof(BuildOutputs).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? own.Parent?.Name;
        if (configuration is null)
        {
            return null;
        }

        var folder = Path.Combine(Path.GetDirectoryName(projectPath)!, "bin", configuration, own.Name);
        var executable = Path.Combine(folder, AssemblyName(projectPath) + (OperatingSystem.IsWindows() ? ".exe" : ""));
        return File.Exists(executable) ? executable : null;
    }

    // <AssemblyName> where the project sets one (the CLI is "shoppe"), else the project file's name.
    private static string AssemblyName(string projectPath) =>
        XDocument.Load(projectPath).Descendants("AssemblyName").Select(e => e.Value.Trim()).LastOrDefault(v => v.Length > 0)
        ?? Path.GetFileNameWithoutExtension(projectPath);
}
