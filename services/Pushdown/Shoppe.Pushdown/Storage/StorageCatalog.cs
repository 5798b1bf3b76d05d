using System.Text.Json;
using Microsoft.Extensions.Options;
using Shoppe.Pushdown.Scans;
using Shoppe.Security.Storage;

namespace Shoppe.Pushdown.Storage;

/// <summary>One file a scan reads: its path as the caller sees it (under a storage root) and on this node's disk.</summary>
/// <param name="Name">The path under its storage root (<c>/nanoaod/nano_dy.parquet</c>), as errors and endpoints name it.</param>
/// <param name="FullPath">The file on disk.</param>
public sealed record DatasetFile(string Name, string FullPath);

/// <summary>
/// Turns a request's dataset (a name this node configures, or files and folders under its storage roots) into
/// files, in name order. Nothing outside the roots is read: no <c>..</c>, no absolute paths elsewhere, no links
/// anywhere on the way (<see cref="StoragePaths"/>, shared with transfer's WebDAV).
/// </summary>
public sealed class StorageCatalog(IOptions<PushdownOptions> options)
{
    private readonly PushdownOptions _options = options.Value;
    private readonly StoragePaths[] _roots = [.. options.Value.StorageRoots.Select(r => new StoragePaths(r))];

    /// <summary>The datasets this node names.</summary>
    public IEnumerable<string> Names => _options.Datasets.Keys.Order(StringComparer.Ordinal);

    /// <summary>The files of <paramref name="dataset"/>: a name (JSON string) or a list of paths (JSON array of strings).</summary>
    /// <exception cref="ScanRequestException">Unknown, malformed, outside the storage roots, missing, or too many files.</exception>
    public IReadOnlyList<DatasetFile> Resolve(JsonElement dataset, out string description)
    {
        IEnumerable<string> entries;
        switch (dataset.ValueKind)
        {
            case JsonValueKind.String:
                var name = dataset.GetString()!;
                if (!_options.Datasets.TryGetValue(name, out var named))
                {
                    var known = Names.ToList();
                    throw new ScanRequestException(404, "Unknown dataset", $"There is no dataset named '{Shorten(name)}'. {(known.Count == 0 ? "This node names no datasets; give a list of paths under its storage." : "Datasets here: " + string.Join(", ", known) + ".")}");
                }

                entries = named;
                description = name;
                break;
            case JsonValueKind.Array:
                var paths = new List<string>();
                foreach (var item in dataset.EnumerateArray())
                {
                    if (item.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(item.GetString()))
                    {
                        throw new ScanRequestException(400, "Bad dataset", "Each entry of 'dataset' must be a path under the node's storage (a string).");
                    }

                    paths.Add(item.GetString()!);
                    if (paths.Count > _options.MaxFiles)
                    {
                        throw new ScanRequestException(400, "Too many files", $"A scan may name at most {_options.MaxFiles} files.");
                    }
                }

                if (paths.Count == 0)
                {
                    throw new ScanRequestException(400, "Bad dataset", "'dataset' names no files.");
                }

                entries = paths;
                description = paths.Count == 1 ? paths[0] : $"{paths[0]} and {paths.Count - 1} more";
                break;
            default:
                throw new ScanRequestException(400, "Bad dataset", "'dataset' must be a dataset's name or a list of paths under the node's storage.");
        }

        var files = new List<DatasetFile>();
        foreach (var entry in entries)
        {
            files.AddRange(Expand(entry));
            if (files.Count > _options.MaxFiles)
            {
                throw new ScanRequestException(400, "Too many files", $"A scan may read at most {_options.MaxFiles} files.");
            }
        }

        if (files.Count == 0)
        {
            throw new ScanRequestException(404, "Empty dataset", $"'{Shorten(description)}' holds no Parquet files.");
        }

        return files;
    }

    /// <summary>A path's file, or a folder's <c>*.parquet</c> files in name order.</summary>
    private List<DatasetFile> Expand(string entry)
    {
        var requestPath = "/" + entry.TrimStart('/');
        if (_roots.Length == 0)
        {
            throw new ScanRequestException(404, "No storage", "This node has no storage roots (Pushdown:StorageRoots).");
        }

        foreach (var root in _roots)
        {
            var full = root.Resolve(requestPath);
            if (full is null)
            {
                throw new ScanRequestException(403, "Outside the storage", $"'{Shorten(entry)}' is not a plain path under the node's storage ('..', links, backslashes and NUL are refused).");
            }

            if (File.Exists(full))
            {
                return [new DatasetFile(root.ToRequestPath(full), full)];
            }

            if (Directory.Exists(full))
            {
                return Directory.EnumerateFiles(full, "*.parquet", SearchOption.TopDirectoryOnly)
                    .Where(f => new FileInfo(f).LinkTarget is null)
                    .Order(StringComparer.Ordinal)
                    .Select(f => new DatasetFile(root.ToRequestPath(f), f))
                    .ToList();
            }
        }

        throw new ScanRequestException(404, "No such file", $"'{Shorten(entry)}' is not under the node's storage.");
    }

    private static string Shorten(string text) => text.Length <= 200 ? text : text[..200] + "...";
}
