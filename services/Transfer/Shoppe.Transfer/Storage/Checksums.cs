using System.Security.Cryptography;

namespace Shoppe.Transfer.Storage;

/// <summary>The digests of RFC 3230 <c>Want-Digest</c> / <c>Digest</c> that grid storage uses: adler32 (as XRootD writes it), MD5, SHA-256.</summary>
public static class Checksums
{
    /// <summary>The first algorithm of a <c>Want-Digest</c> value we support (q-values ignored, order kept), or null.</summary>
    public static string? Choose(string? wantDigest)
    {
        foreach (var part in (wantDigest ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var name = part.Split(';')[0].Trim().ToLowerInvariant();
            if (name is "adler32" or "md5" or "sha-256")
            {
                return name;
            }
        }

        return null;
    }

    /// <summary>The <c>Digest</c> header value for a file: <c>adler32=0a1b2c3d</c>, <c>md5=&lt;base64&gt;</c>, <c>sha-256=&lt;base64&gt;</c>.</summary>
    public static async Task<string> ComputeAsync(string path, string algorithm, CancellationToken cancellationToken)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
        switch (algorithm)
        {
            case "adler32":
                var adler = new Adler32();
                var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(1 << 20);
                try
                {
                    int n;
                    while ((n = await stream.ReadAsync(buffer, cancellationToken)) > 0)
                    {
                        adler.Append(buffer.AsSpan(0, n));
                    }
                }
                finally
                {
                    System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
                }

                return $"adler32={adler.Value:x8}";
            case "md5":
#pragma warning disable CA5351 // MD5 is what the peer asked for, as a checksum, not for security
                return "md5=" + Convert.ToBase64String(await MD5.HashDataAsync(stream, cancellationToken));
#pragma warning restore CA5351
            default:
                return "sha-256=" + Convert.ToBase64String(await SHA256.HashDataAsync(stream, cancellationToken));
        }
    }
}

/// <summary>Adler-32 (RFC 1950), incremental; sums reduced every 5552 bytes, the most that cannot overflow.</summary>
public sealed class Adler32
{
    private uint _a = 1;
    private uint _b;

    public uint Value => (_b << 16) | _a;

    public void Append(ReadOnlySpan<byte> data)
    {
        const uint Mod = 65521;
        while (!data.IsEmpty)
        {
            var chunk = data[..Math.Min(data.Length, 5552)];
            foreach (var x in chunk)
            {
                _a += x;
                _b += _a;
            }

            _a %= Mod;
            _b %= Mod;
            data = data[chunk.Length..];
        }
    }
}
