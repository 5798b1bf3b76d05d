namespace Shoppe.Testing;

/// <summary>Removes a test's folders once the cache that used them has really stopped.</summary>
public static class TestFolders
{
    /// <summary>
    /// Deletes <paramref name="path"/>, trying again for a few seconds: a minimal-hosting app disposes its
    /// services on its own thread after the factory's DisposeAsync returns, so the cache's last flush can
    /// still be writing a block map while the test cleans up.
    /// </summary>
    public static async Task DeleteAsync(string path)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                if (Directory.Exists(path))
                {
                    Directory.Delete(path, recursive: true);
                }

                return;
            }
            catch (IOException) when (attempt < 50)
            {
                await Task.Delay(100);
            }
        }
    }
}
