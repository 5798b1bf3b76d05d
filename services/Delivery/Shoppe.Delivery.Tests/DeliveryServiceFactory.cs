using System.Net.Http.Headers;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Shoppe.Delivery.Transforms;
using Shoppe.Security;


namespace Shoppe.Delivery.Tests;

/// <summary>The real delivery service (its Program, a data folder of its own, the facility's token model).</summary>
public sealed class DeliveryServiceFactory(string dataRoot, IDictionary<string, string?>? settings = null) : ShoppeServiceFactory<Program>(dataRoot, new Dictionary<string, string?>
{
    ["Delivery:Workers"] = "2",
    ["Delivery:RetryDelay"] = "00:00:00.200",
    ["Delivery:LocalRoots:0"] = Samples.Folder,
}, settings)
{
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
