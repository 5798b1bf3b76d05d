using Shoppe.Security.Storage;

namespace Shoppe.Security.Tests.Storage;

/// <summary>Storage paths (transfer's WebDAV, pushdown's datasets): nothing out of the root, names kept exactly.</summary>
public sealed class StoragePathsTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("shoppe-storage-paths-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Theory]
    [InlineData("/a.parquet")]
    [InlineData("/.a.parquet")]
    [InlineData("/..a/b.parquet")]
    [InlineData("/d/.hidden")]
    public void RequestPath_IsTheLocalPathsNameExactly(string requestPath)
    {
        var paths = new StoragePaths(_root);
        var local = paths.Resolve(requestPath);
        Assert.NotNull(local);
        Assert.Equal(requestPath, paths.ToRequestPath(local));
        Assert.Equal("/", paths.ToRequestPath(_root));
    }

    [Theory]
    [InlineData("/../etc/passwd")]
    [InlineData("/a/../../etc")]
    [InlineData("relative")]
    [InlineData("/a\0b")]
    [InlineData("/a\\\\b")]
    public void OutOfTheRoot_IsRefused(string requestPath) => Assert.Null(new StoragePaths(_root).Resolve(requestPath));

    [Fact]
    public void Links_AreRefused()
    {
        Directory.CreateSymbolicLink(Path.Combine(_root, "out"), "/etc");
        Assert.Null(new StoragePaths(_root).Resolve("/out/passwd"));
    }
}
