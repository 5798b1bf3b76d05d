using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using Shoppe.Columnar;

namespace Shoppe.Delivery.Transforms;

/// <summary>
/// Outputs already delivered, reused: the same columns, filter and format over the same version of an input file
/// (its size and ETag, or size and modification time) give the same output, so a repeated request links the
/// earlier file instead of reading and filtering again. An entry whose file is gone or changed size is ignored.
/// </summary>
internal static partial class OutputCache
{
    public static string Key(TransformRecord transform, string input, string identity)
    {
        var text = string.Join('\u001f', [transform.Format, string.Join('\u001e', transform.Columns), transform.Filter ?? "", input, identity]);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
    }

    /// <summary>Puts a cached output at <paramref name="output"/> (a hard link where <paramref name="link"/>, else or across file systems a copy); null when there is none.</summary>
    public static async Task<TransformResult?> TryReuseAsync(TransformStore store, string key, string output, bool link, CancellationToken cancellationToken)
    {
        var cached = await store.FindOutputAsync(key, cancellationToken);
        if (cached is null || !File.Exists(cached.Path) || new FileInfo(cached.Path).Length != cached.BytesOut)
        {
            return null;
        }

        var watch = System.Diagnostics.Stopwatch.StartNew();
        if (cached.Path != output)
        {
            var partial = $"{output}.{Guid.NewGuid().ToString("N")[..8]}.partial";
            try
            {
                File.Delete(partial);
                if (!link || Link(cached.Path, partial) != 0)
                {
                    File.Copy(cached.Path, partial, overwrite: true);
                }

                File.Move(partial, output, overwrite: true);
            }
            finally
            {
                File.Delete(partial);
            }
        }

        return new TransformResult(cached.EventsIn, cached.EventsOut, 0, cached.BytesOut, watch.Elapsed);
    }

    [LibraryImport("libc", EntryPoint = "link", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Link(string existing, string created);
}
