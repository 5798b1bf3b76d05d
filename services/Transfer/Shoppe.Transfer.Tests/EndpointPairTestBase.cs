
namespace Shoppe.Transfer.Tests;

/// <summary>
/// Two instances of the transfer service, A and B, each with a storage root of its own and one signing key between
/// them (a token for one is good at the other, as at one facility), in a work folder of the test's own.
/// </summary>
public abstract class EndpointPairTestBase(IDictionary<string, string?>? settings = null) : IAsyncLifetime
{
    protected string Work { get; } = Directory.CreateTempSubdirectory("shoppe-transfer-pair-").FullName;

    protected TransferServiceFactory A { get; private set; } = null!;

    protected TransferServiceFactory B { get; private set; } = null!;

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    public ValueTask InitializeAsync()
    {
        var key = Path.Combine(Work, "signing.key");
        A = new TransferServiceFactory(Path.Combine(Work, "a"), key, settings);
        B = new TransferServiceFactory(Path.Combine(Work, "b"), key, settings);
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await A.DisposeAsync();
        await B.DisposeAsync();
        await TestFolders.DeleteAsync(Work);
        GC.SuppressFinalize(this);
    }
}
