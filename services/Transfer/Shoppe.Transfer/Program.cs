// The transfer service: a WebDAV storage endpoint with HTTP third-party copy (WLCG HTTP-TPC), docs/transfer.md.
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Shoppe.Security;
using Shoppe.ServiceDefaults;
using Shoppe.Transfer;
using Shoppe.Transfer.Apis;
using Shoppe.Transfer.Queue;
using Shoppe.Transfer.Remotes;
using Shoppe.Transfer.Storage;
using Shoppe.Transfer.Tpc;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddShoppeAuthentication();
// WebDAV GETs send file bytes by sendfile(2).
builder.AddZeroCopySendFile();
builder.Services.AddOptions<TransferOptions>().BindConfiguration(TransferOptions.SectionName)
    .Validate(o => o.MarkerInterval > TimeSpan.Zero && o.RemoteTimeout > TimeSpan.Zero && o.RetryDelay >= TimeSpan.Zero, "Transfer:MarkerInterval and RemoteTimeout must be positive, RetryDelay not negative.")
    .Validate(o => o.MaxPerEndpointPair is >= 1 and <= 1000 && o.MaxAttempts is >= 1 and <= 100, "Transfer:MaxPerEndpointPair (1-1000) and MaxAttempts (1-100) are out of range.")
    .Validate(o => { _ = new RemotePolicy(o.AllowedRemotes, out var errors); return errors.Count == 0; }, "Transfer:AllowedRemotes has an entry that is neither a host name nor an address range.")
    .ValidateOnStart();
builder.Services.AddSingleton(sp => new RemotePolicy(sp.GetRequiredService<IOptions<TransferOptions>>().Value.AllowedRemotes, out _));
builder.Services.AddSingleton(sp =>
{
    var root = sp.GetRequiredService<IOptions<TransferOptions>>().Value.Root
        ?? Path.Combine(sp.GetRequiredService<IOptions<ShoppeHostOptions>>().Value.DataRoot, "storage");
    return new StoragePaths(Directory.CreateDirectory(root).FullName);
});
builder.Services.AddSingleton(sp => new ThirdPartyCopy(
    // The remote side of a copy: its own client (no retries: a copy is not idempotent; timeouts per copy), and
    // connections only where Transfer:AllowedRemotes allows.
    new HttpClient(sp.GetRequiredService<RemotePolicy>().Handler(TimeSpan.FromSeconds(10))) { Timeout = Timeout.InfiniteTimeSpan },
    sp.GetRequiredService<RemotePolicy>(),
    sp.GetRequiredService<IOptions<TransferOptions>>().Value,
    sp.GetRequiredService<ILogger<ThirdPartyCopy>>()));

builder.Services.AddSingleton(sp => new TransferJobs(Path.Combine(Directory.CreateDirectory(sp.GetRequiredService<IOptions<ShoppeHostOptions>>().Value.DataRoot).FullName, "transfers.db")));
// Queued copies keep their tokens encrypted until they end; the keys live in the service's data folder.
builder.Services.AddDataProtection().SetApplicationName("coffea-shoppe-transfer");
builder.Services.AddOptions<Microsoft.AspNetCore.DataProtection.KeyManagement.KeyManagementOptions>()
    .Configure<IOptions<ShoppeHostOptions>>((keys, host) => keys.XmlRepository = new Microsoft.AspNetCore.DataProtection.Repositories.FileSystemXmlRepository(
        Directory.CreateDirectory(Path.Combine(host.Value.DataRoot, "data-protection-keys")), NullLoggerFactory.Instance));
builder.Services.AddSingleton(sp => new TransferScheduler(sp.GetRequiredService<TransferJobs>(), sp.GetRequiredService<RemotePolicy>(),
    sp.GetRequiredService<IDataProtectionProvider>().CreateProtector(TransferScheduler.TokenPurpose),
    sp.GetRequiredService<IOptions<TransferOptions>>().Value, sp.GetRequiredService<ILogger<TransferScheduler>>()));
builder.Services.AddHostedService(sp => sp.GetRequiredService<TransferScheduler>());

var app = builder.Build();
app.MapDefaultEndpoints();
app.UseShoppeAuthentication();
app.MapTransfersApi();
app.MapWebDav();
await app.RunAsync();
