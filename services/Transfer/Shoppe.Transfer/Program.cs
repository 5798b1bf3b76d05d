// The transfer service: a WebDAV storage endpoint with HTTP third-party copy (WLCG HTTP-TPC), docs/transfer.md.
using Microsoft.Extensions.Options;
using Shoppe.Security;
using Shoppe.ServiceDefaults;
using Shoppe.Transfer;
using Shoppe.Transfer.Apis;
using Shoppe.Transfer.Queue;
using Shoppe.Transfer.Storage;
using Shoppe.Transfer.Tpc;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddShoppeAuthentication();
builder.Services.AddOptions<TransferOptions>().BindConfiguration(TransferOptions.SectionName)
    .Validate(o => o.MarkerInterval > TimeSpan.Zero && o.RemoteTimeout > TimeSpan.Zero && o.RetryDelay >= TimeSpan.Zero, "Transfer:MarkerInterval and RemoteTimeout must be positive, RetryDelay not negative.")
    .Validate(o => o.MaxPerEndpointPair is >= 1 and <= 1000 && o.MaxAttempts is >= 1 and <= 100, "Transfer:MaxPerEndpointPair (1-1000) and MaxAttempts (1-100) are out of range.")
    .ValidateOnStart();
builder.Services.AddSingleton(sp =>
{
    var root = sp.GetRequiredService<IOptions<TransferOptions>>().Value.Root
        ?? Path.Combine(sp.GetRequiredService<IOptions<ShoppeHostOptions>>().Value.DataRoot, "storage");
    return new StoragePaths(Directory.CreateDirectory(root).FullName);
});
builder.Services.AddSingleton(sp => new ThirdPartyCopy(
    // The remote side of a copy: its own client (no retries: a copy is not idempotent; timeouts per copy).
    new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(10), AutomaticDecompression = System.Net.DecompressionMethods.None }) { Timeout = Timeout.InfiniteTimeSpan },
    sp.GetRequiredService<IOptions<TransferOptions>>().Value,
    sp.GetRequiredService<ILogger<ThirdPartyCopy>>()));

builder.Services.AddSingleton(sp => new TransferJobs(Path.Combine(Directory.CreateDirectory(sp.GetRequiredService<IOptions<ShoppeHostOptions>>().Value.DataRoot).FullName, "transfers.db")));
builder.Services.AddSingleton(sp => new TransferScheduler(sp.GetRequiredService<TransferJobs>(), sp.GetRequiredService<IOptions<TransferOptions>>().Value, sp.GetRequiredService<ILogger<TransferScheduler>>()));
builder.Services.AddHostedService(sp => sp.GetRequiredService<TransferScheduler>());

var app = builder.Build();
app.MapDefaultEndpoints();
app.UseShoppeAuthentication();
app.MapTransfersApi();
app.MapWebDav();
await app.RunAsync();
