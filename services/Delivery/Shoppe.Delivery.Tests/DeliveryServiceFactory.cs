using System.Net.Http.Headers;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Shoppe.Delivery.Transforms;
using Shoppe.Security;

using Shoppe.Columnar.Tests;

namespace Shoppe.Delivery.Tests;

/// <summary>The real delivery service (its Program, a data folder of its own, the facility's token model).</summary>
public sealed class DeliveryServiceFactory : WebApplicationFactory<Program>
{
    private readonly Dictionary<string, string?> _settings;

    public DeliveryServiceFactory(string dataRoot, IDictionary<string, string?>? settings = null)
    {
        DataRoot = dataRoot;
        KeyFile = Path.Combine(dataRoot, "keys", "signing.key");
        _settings = new Dictionary<string, string?>
        {
            ["Shoppe:DataRoot"] = dataRoot,
            ["Shoppe:Security:SigningKeyFile"] = KeyFile,
            ["Delivery:Workers"] = "2",
            ["Delivery:RetryDelay"] = "00:00:00.200",
            ["Delivery:LocalRoots:0"] = Samples.Folder,
        };
        foreach (var (k, v) in settings ?? new Dictionary<string, string?>())
        {
            _settings[k] = v;
        }
    }

    public string DataRoot { get; }

    public string KeyFile { get; }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        foreach (var (k, v) in _settings.Where(s => s.Value is not null))
        {
            builder.UseSetting(k, v);
        }
    }

    public HttpClient ClientFor(string user, params string[] roles)
    {
        var client = CreateClient();
        var token = new TokenIssuer(new ShoppeSecurityOptions { SigningKeyFile = KeyFile }, TimeProvider.System).Issue(user, roles, TimeSpan.FromHours(1));
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    /// <summary>Polls a transform until it is finished (or the timeout passes).</summary>
    public static async Task<TransformStatus> WaitAsync(HttpClient client, string id, TimeSpan? timeout = null)
    {
        var until = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (true)
        {
            var status = (await client.GetFromJsonAsync<TransformStatus>($"/v1/transforms/{id}", TestContext.Current.CancellationToken))!;
            if (TransformStates.IsFinished(status.State))
            {
                return status;
            }

            if (DateTime.UtcNow > until)
            {
                throw new TimeoutException($"Transform {id} is still {status.State} ({status.FilesDone} of {status.FilesTotal} files done).");
            }

            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
    }
}
