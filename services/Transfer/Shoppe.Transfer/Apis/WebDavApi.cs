using System.Globalization;
using System.Text;
using System.Xml;
using Microsoft.AspNetCore.Http.Features;
using Shoppe.Security;
using Shoppe.Security.Storage;
using Shoppe.Transfer.Storage;
using Shoppe.Transfer.Tpc;

namespace Shoppe.Transfer.Apis;

/// <summary>
/// The WebDAV storage endpoint over the storage root: GET (ranges), HEAD, PUT (streamed to a temporary name,
/// synced, renamed), DELETE, MKCOL, PROPFIND (depth 0 and 1), OPTIONS, and COPY for third-party copies.
/// <c>Want-Digest</c> (adler32, md5, sha-256) is answered with <c>Digest</c>. Every request needs a token whose
/// WLCG storage scopes cover the path (docs/transfer.md).
/// </summary>
public static partial class WebDavApi
{
    private static readonly string[] Methods = ["GET", "HEAD", "PUT", "DELETE", "MKCOL", "PROPFIND", "COPY", "OPTIONS"];

    public static IEndpointRouteBuilder MapWebDav(this IEndpointRouteBuilder routes)
    {
        routes.MapMethods("/{**path}", Methods, HandleAsync).RequireAuthorization(ShoppeClaims.UserPolicy).WithName("Storage");
        return routes;
    }

    private static Microsoft.AspNetCore.Http.HttpResults.ProblemHttpResult Problem(int status, string title, string detail) => TypedResults.Problem(statusCode: status, title: title, detail: detail);

    private static async Task<IResult> HandleAsync(HttpContext context, StoragePaths paths, ThirdPartyCopy copier)
    {
        var request = context.Request;
        var requestPath = request.Path.Value ?? "/";
        var local = paths.Resolve(requestPath);
        if (local is null)
        {
            return Problem(400, "Bad path", "The path must be a plain path under the storage root: no '.' or '..' segments, no links.");
        }

        var method = request.Method.ToUpperInvariant();
        var exists = File.Exists(local);
        var access = method switch
        {
            "GET" or "HEAD" or "PROPFIND" or "OPTIONS" => StorageAccess.Read,
            // A push reads here; a pull writes here. Decided as ThirdPartyCopy.Plan decides it (non-empty headers).
            "COPY" when request.Headers["Source"].ToString().Length == 0 && request.Headers["Destination"].ToString().Length > 0 => StorageAccess.Read,
            "DELETE" => StorageAccess.Modify,
            _ => exists ? StorageAccess.Modify : StorageAccess.Create,
        };
        if (!StorageScopes.Allows(context.User, access, requestPath))
        {
            return Problem(403, "Not in your token's scope", $"Your token does not allow storage.{access.ToString().ToLowerInvariant()} on {requestPath}.");
        }

        var cancellationToken = context.RequestAborted;
        switch (method)
        {
            case "OPTIONS":
                context.Response.Headers["DAV"] = "1";
                context.Response.Headers.Allow = string.Join(", ", Methods);
                return TypedResults.Ok();
            case "GET" or "HEAD":
                if (!exists)
                {
                    return Problem(404, "Not found", Directory.Exists(local) ? $"{requestPath} is a directory; PROPFIND lists it." : $"{requestPath} does not exist.");
                }

                await AddDigestAsync(context, local, cancellationToken);
                return TypedResults.PhysicalFile(local, "application/octet-stream", enableRangeProcessing: true, lastModified: File.GetLastWriteTimeUtc(local));
            case "PUT":
                return await PutAsync(context, local, exists, cancellationToken);
            case "DELETE":
                return Delete(local, requestPath);
            case "MKCOL":
                if (exists || Directory.Exists(local))
                {
                    return Problem(405, "Exists", $"{requestPath} exists already.");
                }

                if (!Directory.Exists(Path.GetDirectoryName(local)))
                {
                    return Problem(409, "No parent", $"The parent of {requestPath} does not exist.");
                }

                Directory.CreateDirectory(local);
                return TypedResults.Created(requestPath);
            case "PROPFIND":
                return Propfind(context, paths, local, requestPath);
            default:
                return await CopyAsync(context, copier, local, requestPath, exists, cancellationToken);
        }
    }

    private static async Task AddDigestAsync(HttpContext context, string local, CancellationToken cancellationToken)
    {
        if (Checksums.Choose(context.Request.Headers["Want-Digest"]) is { } algorithm)
        {
            context.Response.Headers["Digest"] = await Checksums.ComputeAsync(local, algorithm, cancellationToken);
        }
    }

    private static async Task<IResult> PutAsync(HttpContext context, string local, bool exists, CancellationToken cancellationToken)
    {
        var sync = context.RequestServices.GetRequiredService<Microsoft.Extensions.Options.IOptions<TransferOptions>>().Value.SyncOnClose;
        if (Directory.Exists(local))
        {
            return Problem(409, "Is a directory", $"{context.Request.Path} is a directory.");
        }

        // Streamed bodies of any size: the storage is the limit, not Kestrel's request-size cap.
        context.Features.Get<IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize = null;
        var folder = Path.GetDirectoryName(local)!;
        try
        {
            Directory.CreateDirectory(folder); // parents are made, as XRootD does
        }
        catch (IOException)
        {
            return Problem(409, "No folder", $"A parent of {context.Request.Path} is a file.");
        }

        using var temporary = new TemporaryFile(folder, ".upload-");
        long received;
        try
        {
            await using var target = new FileStream(temporary.FullName, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.None);
            FileWriting.Preallocate(target.SafeFileHandle, context.Request.ContentLength ?? 0);
            received = await FileWriting.CopyAsync(context.Request.Body, target, null, null, cancellationToken);
            target.Flush(flushToDisk: sync);
        }
        catch (IOException ex) when (FileWriting.IsDiskFull(ex))
        {
            return Problem(507, "Storage full", $"There is no room for {context.Request.Path}: {ex.Message}");
        }

        if (context.Request.ContentLength is { } length && length != received)
        {
            return Problem(400, "Short body", $"The body had {received} of the {length} bytes announced.");
        }

        try
        {
            // Replace only what the scope check saw: a file created meanwhile needed modify, not create.
            temporary.MoveTo(local, overwrite: exists);
        }
        catch (IOException)
        {
            return Problem(409, "Changed meanwhile", $"{context.Request.Path} was created or changed while it was uploaded; send it again.");
        }

        await AddDigestAsync(context, local, cancellationToken);
        return exists ? TypedResults.NoContent() : TypedResults.Created(context.Request.Path.Value);
    }

    private static IResult Delete(string local, string requestPath)
    {
        if (File.Exists(local))
        {
            File.Delete(local);
            return TypedResults.NoContent();
        }

        if (Directory.Exists(local))
        {
            if (Directory.EnumerateFileSystemEntries(local).Any())
            {
                return Problem(409, "Not empty", $"{requestPath} is a directory that is not empty.");
            }

            Directory.Delete(local);
            return TypedResults.NoContent();
        }

        return Problem(404, "Not found", $"{requestPath} does not exist.");
    }

    private static IResult Propfind(HttpContext context, StoragePaths paths, string local, string requestPath)
    {
        var depth = context.Request.Headers["Depth"].ToString();
        if (!File.Exists(local) && !Directory.Exists(local))
        {
            return Problem(404, "Not found", $"{requestPath} does not exist.");
        }

        var entries = new List<FileSystemInfo> { File.Exists(local) ? new FileInfo(local) : new DirectoryInfo(local) };
        if (depth != "0" && Directory.Exists(local))
        {
            entries.AddRange(new DirectoryInfo(local).EnumerateFileSystemInfos().Where(e => e.LinkTarget is null && !e.Name.StartsWith('.')).OrderBy(e => e.Name, StringComparer.Ordinal).Take(100_000));
        }

        var xml = new StringBuilder();
        using (var writer = XmlWriter.Create(xml, new XmlWriterSettings { Encoding = Encoding.UTF8, Indent = false }))
        {
            writer.WriteStartElement("D", "multistatus", "DAV:");
            foreach (var entry in entries)
            {
                writer.WriteStartElement("D", "response", "DAV:");
                var href = paths.ToRequestPath(entry.FullName);
                writer.WriteElementString("D", "href", "DAV:", Uri.EscapeDataString(href).Replace("%2F", "/", StringComparison.Ordinal) + (entry is DirectoryInfo && href != "/" ? "/" : ""));
                writer.WriteStartElement("D", "propstat", "DAV:");
                writer.WriteStartElement("D", "prop", "DAV:");
                writer.WriteElementString("D", "displayname", "DAV:", entry.Name);
                writer.WriteElementString("D", "getlastmodified", "DAV:", entry.LastWriteTimeUtc.ToString("R", CultureInfo.InvariantCulture));
                writer.WriteElementString("D", "creationdate", "DAV:", entry.CreationTimeUtc.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture));
                writer.WriteStartElement("D", "resourcetype", "DAV:");
                if (entry is DirectoryInfo)
                {
                    writer.WriteElementString("D", "collection", "DAV:", "");
                }

                writer.WriteEndElement();
                if (entry is FileInfo file)
                {
                    writer.WriteElementString("D", "getcontentlength", "DAV:", file.Length.ToString(CultureInfo.InvariantCulture));
                }

                writer.WriteEndElement(); // prop
                writer.WriteElementString("D", "status", "DAV:", "HTTP/1.1 200 OK");
                writer.WriteEndElement(); // propstat
                writer.WriteEndElement(); // response
            }

            writer.WriteEndElement();
        }

        return TypedResults.Text(xml.ToString().Replace("encoding=\"utf-16\"", "encoding=\"utf-8\"", StringComparison.Ordinal), "application/xml; charset=utf-8", Encoding.UTF8, 207);
    }

    private static async Task<IResult> CopyAsync(HttpContext context, ThirdPartyCopy copier, string local, string requestPath, bool exists, CancellationToken cancellationToken)
    {
        var (plan, status, error) = copier.Plan(context.Request);
        if (plan is null)
        {
            var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Shoppe.Transfer.Copy");
            var headers = string.Join("; ", context.Request.Headers.Where(h => h.Key != "Authorization" && !h.Key.StartsWith(ThirdPartyCopy.TransferHeaderPrefix, StringComparison.OrdinalIgnoreCase)).Select(h => $"{h.Key}: {h.Value}"));
            LogRefused(logger, requestPath, error!, headers);
            return Problem(status, "Bad COPY", error!);
        }

        if (plan.Pull)
        {
            if (Directory.Exists(local))
            {
                return Problem(409, "Is a directory", $"{requestPath} is a directory.");
            }

            if (exists && !plan.Overwrite)
            {
                return Problem(412, "Exists", $"Unable to create {requestPath}; file exists");
            }
        }
        else if (!exists)
        {
            return Problem(404, "Not found", $"{requestPath} does not exist.");
        }

        // A pull replaces a file only if it existed when the scope check (modify) saw it.
        await copier.RunAsync(plan.Pull ? plan with { Overwrite = plan.Overwrite && exists } : plan, local, context.Response, cancellationToken);
        return TypedResults.Empty;
    }

    [LoggerMessage(EventId = 10, Level = LogLevel.Warning, Message = "COPY {Path} refused: {Reason} (headers: {Headers})")]
    private static partial void LogRefused(ILogger logger, string path, string reason, string headers);
}
