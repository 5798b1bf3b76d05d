using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.AspNetCore.DataProtection.Repositories;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Shoppe.Security.Remotes;
using Shoppe.ServiceDefaults;
using Shoppe.Transfer.Queue;
using Shoppe.Security.Storage;
using Shoppe.Transfer.Storage;
using Shoppe.Transfer.Tpc;

namespace Shoppe.Transfer.Extensions;

/// <summary>The transfer service's registrations: options validated at start, the remote policy, storage, copies and their queue.</summary>
internal static class TransferServiceExtensions
{
    public static WebApplicationBuilder AddTransferServices(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<TransferOptions>().BindConfiguration(TransferOptions.SectionName)
            .Validate(o => o.MarkerInterval > TimeSpan.Zero && o.RemoteTimeout > TimeSpan.Zero && o.RetryDelay >= TimeSpan.Zero, "Transfer:MarkerInterval and RemoteTimeout must be positive, RetryDelay not negative.")
            .Validate(o => o.MaxPerEndpointPair is >= 1 and <= 1000 && o.MaxAttempts is >= 1 and <= 100, "Transfer:MaxPerEndpointPair (1-1000) and MaxAttempts (1-100) are out of range.")
            .ValidateOnStart();
        // Copies go to storage endpoints anywhere, private networks included; Transfer:AllowedRemotes narrows that.
        builder.Services.AddRemotePolicy(TransferOptions.SectionName, RemoteDefaults.AnyButLinkLocal);
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
        builder.Services.AddOptions<KeyManagementOptions>()
            .Configure<IOptions<ShoppeHostOptions>>((keys, host) => keys.XmlRepository = new FileSystemXmlRepository(
                Directory.CreateDirectory(Path.Combine(host.Value.DataRoot, "data-protection-keys")), NullLoggerFactory.Instance));
        builder.Services.AddSingleton(sp => new TransferScheduler(sp.GetRequiredService<TransferJobs>(), sp.GetRequiredService<RemotePolicy>(),
            sp.GetRequiredService<IDataProtectionProvider>().CreateProtector(TransferScheduler.TokenPurpose),
            sp.GetRequiredService<IOptions<TransferOptions>>().Value, sp.GetRequiredService<ILogger<TransferScheduler>>()));
        builder.Services.AddHostedService(sp => sp.GetRequiredService<TransferScheduler>());
        // WebDAV GETs send file bytes by sendfile(2).
        builder.AddZeroCopySendFile();
        return builder;
    }
}
