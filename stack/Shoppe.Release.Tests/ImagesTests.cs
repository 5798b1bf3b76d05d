using System.Formats.Tar;
using System.IO.Compression;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Shoppe.Release.Tests;

/// <summary>
/// <c>shoppe release images push</c> against a real registry on loopback: a signed release whose manifest pins each
/// service image by digest, and an OCI layout holding them (written here as the OCI image-layout specification says;
/// certification in containers writes the real one, in the walk-through test).
/// </summary>
public sealed class ImagesTests : IAsyncLifetime
{
    private static readonly string[] Services = ["logs", "cache"];

    private readonly string _folder = Directory.CreateTempSubdirectory("shoppe-images-").FullName;
    private PeerProcess? _registry;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string Repo => Path.Combine(_folder, "repo");

    private string Registry => $"127.0.0.1:{_registry!.Port}/coffea-shoppe";

    private ReleaseLayout Layout => new(Repo);

    private static StackVersion Version => StackVersion.Parse("0.1.0");

    private static Dictionary<string, string> Environment => new() { ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1" };

    public async ValueTask InitializeAsync() => _registry = await RegistryPeer.StartAsync(_folder, "registry", Ct);

    public async ValueTask DisposeAsync()
    {
        if (_registry is not null)
        {
            await _registry.DisposeAsync();
        }

        await TestFolders.DeleteAsync(_folder);
    }

    [Fact]
    public async Task Push_ToARegistryOnLoopback_ServesEveryImageByItsCertifiedDigest()
    {
        var digests = Release(withImages: true);

        var (code, output) = await Walkthrough.ShoppeAsync(["release", "images", "push", "0.1.0", "--registry", Registry, "--insecure"], Repo, Environment);

        Assert.True(code == 0, output);
        foreach (var service in Services)
        {
            Assert.Contains($"{Registry}/{service}@{digests[service]}", output, StringComparison.Ordinal);

            // Asked independently of skopeo: the registry serves the tag as the very manifest the release signed.
            using var http = new HttpClient();
            using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{_registry!.Port}/v2/coffea-shoppe/{service}/manifests/0.1.0");
            request.Headers.Accept.ParseAdd("application/vnd.oci.image.manifest.v1+json");
            using var response = await http.SendAsync(request, Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(digests[service], response.Headers.GetValues("Docker-Content-Digest").Single());
            var body = await response.Content.ReadAsByteArrayAsync(Ct);
            Assert.Equal(digests[service], "sha256:" + Convert.ToHexStringLower(SHA256.HashData(body)));
        }
    }

    [Fact]
    public async Task Push_OfALayoutThatIsNotTheCertifiedOne_IsRefused_AndPushesNothing()
    {
        var digests = Release(withImages: true);
        var layout = Layout.Images(Version);

        // The reference points at another image than the one the manifest signed.
        var index = Path.Combine(layout, "index.json");
        var original = await File.ReadAllTextAsync(index, Ct);
        await File.WriteAllTextAsync(index, original.Replace(digests["cache"], digests["logs"], StringComparison.Ordinal), Ct);
        var (code, output) = await Walkthrough.ShoppeAsync(["release", "images", "push", "0.1.0", "--registry", Registry, "--insecure"], Repo, Environment);
        Assert.Equal(1, code);
        Assert.Contains($"has cache-0.1.0 at {digests["logs"]}; the signed manifest says {digests["cache"]}", Flat(output), StringComparison.Ordinal);

        // The reference is right, but the manifest blob's bytes were changed.
        await File.WriteAllTextAsync(index, original, Ct);
        var blob = Path.Combine(layout, "blobs", "sha256", digests["logs"]["sha256:".Length..]);
        await File.AppendAllTextAsync(blob, " ", Ct);
        (code, output) = await Walkthrough.ShoppeAsync(["release", "images", "push", "0.1.0", "--registry", Registry, "--insecure"], Repo, Environment);
        Assert.Equal(1, code);
        Assert.Contains("the layout was altered", Flat(output), StringComparison.Ordinal);

        using var http = new HttpClient();
        foreach (var service in Services)
        {
            using var tags = await http.GetAsync(new Uri($"http://127.0.0.1:{_registry!.Port}/v2/coffea-shoppe/{service}/tags/list"), Ct);
            Assert.Equal(HttpStatusCode.NotFound, tags.StatusCode);
        }
    }

    [Fact]
    public async Task Push_RefusesAReleaseWithoutImages_ARegistryWithAScheme_AReleaseNotCertified_AndNamesARegistryThatIsNotThere()
    {
        Release(withImages: false);
        var (code, output) = await Walkthrough.ShoppeAsync(["release", "images", "push", "0.1.0", "--registry", Registry, "--insecure"], Repo, Environment);
        Assert.Equal(2, code);
        Assert.Contains("0.1.0 has no container images: certify it with --target containers first", Flat(output), StringComparison.Ordinal);

        Directory.Delete(Layout.Folder(Version), recursive: true);
        Release(withImages: true);
        (code, output) = await Walkthrough.ShoppeAsync(["release", "images", "push", "0.1.0", "--registry", "https://registry.example.org"], Repo, Environment);
        Assert.Equal(2, code);
        Assert.Contains("'https://registry.example.org' is not a registry", Flat(output), StringComparison.Ordinal);

        // A release not certified is not pushed.
        Directory.Delete(Layout.Folder(Version), recursive: true);
        Release(withImages: true, certified: false);
        (code, output) = await Walkthrough.ShoppeAsync(["release", "images", "push", "0.1.0", "--registry", Registry, "--insecure"], Repo, Environment);
        Assert.Equal(2, code);
        Assert.Contains("0.1.0 is not certified; only a certified release's images are pushed", Flat(output), StringComparison.Ordinal);

        Directory.Delete(Layout.Folder(Version), recursive: true);
        Release(withImages: true);
        var nowhere = $"127.0.0.1:{Loopback.FreePort()}/coffea-shoppe";
        (code, output) = await Walkthrough.ShoppeAsync(["release", "images", "push", "0.1.0", "--registry", nowhere, "--insecure"], Repo, Environment);
        Assert.Equal(2, code);
        Assert.Contains($"skopeo copy docker://{nowhere}/logs:0.1.0 failed", Flat(output), StringComparison.Ordinal);
        Assert.Contains("connection refused", Flat(output), StringComparison.Ordinal);
    }

    private static string Flat(string output) => SignedReleases.Flat(output);

    /// <summary>A repository with a signed release 0.1.0 of two services and, with images, its OCI layout; returns the digests.</summary>
    private Dictionary<string, string> Release(bool withImages, bool certified = true)
    {
        Directory.CreateDirectory(Repo);
        File.WriteAllText(Path.Combine(Repo, "Shoppe.sln"), "");
        File.WriteAllText(Path.Combine(Repo, "VERSION"), "0.1.0\n");
        var digests = withImages ? WriteLayout(Layout.Images(Version)) : [];
        SignedReleases.Write(Layout, Path.Combine(_folder, "release.key"), Services.Select(s => (s, digests.GetValueOrDefault(s))),
            new InfraProgram("infra", "0.1.0", new string('4', 64)), certified);
        return digests;
    }

    /// <summary>An OCI image layout with one small image per service (one gzip layer, its config, its manifest).</summary>
    private static Dictionary<string, string> WriteLayout(string layout)
    {
        var blobs = Directory.CreateDirectory(Path.Combine(layout, "blobs", "sha256")).FullName;
        File.WriteAllText(Path.Combine(layout, "oci-layout"), """{"imageLayoutVersion":"1.0.0"}""");
        var digests = new Dictionary<string, string>(StringComparer.Ordinal);
        var entries = new List<object>();
        foreach (var service in Services)
        {
            using var tar = new MemoryStream();
            using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
            {
                var entry = new PaxTarEntry(TarEntryType.RegularFile, $"app/{service}.txt") { DataStream = new MemoryStream(Encoding.UTF8.GetBytes($"the {service} service\n")) };
                writer.WriteEntry(entry);
            }

            using var gzip = new MemoryStream();
            using (var compressor = new GZipStream(gzip, CompressionLevel.Optimal, leaveOpen: true))
            {
                compressor.Write(tar.ToArray());
            }

            var layer = Blob(blobs, gzip.ToArray());
            var config = Blob(blobs, JsonSerializer.SerializeToUtf8Bytes(new
            {
                architecture = "amd64",
                os = "linux",
                config = new { User = "10001:10001", Entrypoint = new[] { $"/app/{service}" } },
                rootfs = new { type = "layers", diff_ids = new[] { "sha256:" + Convert.ToHexStringLower(SHA256.HashData(tar.ToArray())) } },
            }));
            var manifest = JsonSerializer.SerializeToUtf8Bytes(new
            {
                schemaVersion = 2,
                mediaType = "application/vnd.oci.image.manifest.v1+json",
                config = new { mediaType = "application/vnd.oci.image.config.v1+json", digest = config.Digest, size = config.Size },
                layers = new[] { new { mediaType = "application/vnd.oci.image.layer.v1.tar+gzip", digest = layer.Digest, size = layer.Size } },
            });
            var (digest, size) = Blob(blobs, manifest);
            digests[service] = digest;
            entries.Add(new Dictionary<string, object>
            {
                ["mediaType"] = "application/vnd.oci.image.manifest.v1+json",
                ["digest"] = digest,
                ["size"] = size,
                ["annotations"] = new Dictionary<string, string> { ["org.opencontainers.image.ref.name"] = OciImages.Reference(service, "0.1.0") },
            });
        }

        File.WriteAllBytes(Path.Combine(layout, "index.json"), JsonSerializer.SerializeToUtf8Bytes(new { schemaVersion = 2, manifests = entries }));
        return digests;
    }

    private static (string Digest, long Size) Blob(string blobs, byte[] bytes)
    {
        var hex = Convert.ToHexStringLower(SHA256.HashData(bytes));
        File.WriteAllBytes(Path.Combine(blobs, hex), bytes);
        return ("sha256:" + hex, bytes.LongLength);
    }
}
