using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Shoppe.Release;

/// <summary>
/// The Pulumi program a release deploys with (infra/): its version (infra/package.json) and one digest over its files,
/// so <c>shoppe site deploy</c> runs exactly the program the release was cut with.
/// </summary>
/// <param name="Path">The program's folder, relative to the repository root.</param>
/// <param name="Version">Its package version.</param>
/// <param name="Sha256">
/// SHA-256 of the <c>sha256sum</c> listing (<c>&lt;hex&gt;  &lt;path&gt;</c> lines, paths relative to the repository root
/// and sorted bytewise) of the program's files: <see cref="Files"/>.
/// </param>
public sealed record InfraProgram(string Path, string Version, string Sha256)
{
    /// <summary>The program's folder in a repository.</summary>
    public const string Folder = "infra";

    /// <summary>
    /// What the program is made of: its Pulumi project, package and lock files, TypeScript settings, sources, and the
    /// site file schema it validates against. Not its tests or example sites (a site admin adds a site file of their own).
    /// </summary>
    public static IReadOnlyList<string> Files(string repositoryRoot)
    {
        var root = System.IO.Path.GetFullPath(repositoryRoot);
        var infra = System.IO.Path.Combine(root, Folder);
        var files = new List<string> { "Pulumi.yaml", "package.json", "package-lock.json", "tsconfig.json" }
            .Select(f => System.IO.Path.Combine(infra, f))
            .Concat(Directory.Exists(System.IO.Path.Combine(infra, "src")) ? Directory.EnumerateFiles(System.IO.Path.Combine(infra, "src"), "*", SearchOption.AllDirectories) : [])
            .Append(System.IO.Path.Combine(root, "docs", "schemas", "site.schema.json"))
            .Select(f => System.IO.Path.GetRelativePath(root, f).Replace('\\', '/'))
            .Order(StringComparer.Ordinal)
            .ToList();
        var missing = files.FirstOrDefault(f => !File.Exists(System.IO.Path.Combine(root, f)));
        return missing is null ? files : throw new ReleaseException($"The Pulumi program is incomplete: {missing} does not exist.");
    }

    /// <summary>Reads the program of the repository at <paramref name="repositoryRoot"/>.</summary>
    public static InfraProgram Read(string repositoryRoot)
    {
        var root = System.IO.Path.GetFullPath(repositoryRoot);
        var listing = new StringBuilder();
        foreach (var file in Files(root))
        {
            listing.Append(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(System.IO.Path.Combine(root, file))))).Append("  ").Append(file).Append('\n');
        }

        using var package = JsonDocument.Parse(File.ReadAllBytes(System.IO.Path.Combine(root, Folder, "package.json")));
        var version = package.RootElement.TryGetProperty("version", out var v) && v.GetString() is { Length: > 0 } text
            ? text
            : throw new ReleaseException($"{Folder}/package.json has no version.");
        return new InfraProgram(Folder, version, Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(listing.ToString()))));
    }
}
