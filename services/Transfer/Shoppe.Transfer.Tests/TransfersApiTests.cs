using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using Shoppe.Transfer.Queue;

namespace Shoppe.Transfer.Tests;

/// <summary>The transfer queue: copies between two real endpoints, retries of failures that may pass, history, owners.</summary>
public sealed class TransfersApiTests() : EndpointPairTestBase(new Dictionary<string, string?> { ["Transfer:RetryDelay"] = "00:00:00.100" })
{
    private static async Task<TransferJob> WaitAsync(HttpClient client, string id)
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            var job = (await client.GetFromJsonAsync<TransferJob>($"/v1/transfers/{id}", Ct))!;
            if (job.State is "done" or "failed")
            {
                return job;
            }

            Assert.True(DateTime.UtcNow < until, $"transfer {id} is still {job.State}");
            await Task.Delay(50, Ct);
        }
    }

    private static async Task<(HttpStatusCode Status, TransferJob? Job, string Body)> SubmitAsync(HttpClient client, object request)
    {
        using var response = await client.PostAsJsonAsync("/v1/transfers", request, Ct);
        var body = await response.Content.ReadAsStringAsync(Ct);
        return (response.StatusCode, response.IsSuccessStatusCode ? System.Text.Json.JsonSerializer.Deserialize(body, TransferJsonContext.Default.TransferJob) : null, body);
    }

    [Fact]
    public async Task Transfer_BetweenTwoEndpoints_IsDoneWithItsBytes()
    {
        var data = RandomNumberGenerator.GetBytes(4_000_000);
        Directory.CreateDirectory(A.Storage);
        File.WriteAllBytes(Path.Combine(A.Storage, "f.bin"), data);
        using var client = A.ClientWith(null);

        var (status, job, body) = await SubmitAsync(client, new
        {
            source = new Uri(A.Url, "/f.bin").AbsoluteUri,
            destination = new Uri(B.Url, "/copies/f.bin").AbsoluteUri,
            verifyChecksum = true,
            sourceToken = A.Token("alice", "storage.read:/"),
            destinationToken = B.Token("alice", "storage.create:/copies"),
        });

        Assert.True(status == HttpStatusCode.Created, body);
        Assert.Equal(data.Length, job!.Size);
        var done = await WaitAsync(client, job.RequestId);
        Assert.Equal("done", done.State);
        Assert.Equal((1, data.Length), (done.Attempts, done.Bytes));
        Assert.Equal(data, File.ReadAllBytes(Path.Combine(B.Storage, "copies", "f.bin")));
        Assert.Equal(done.RequestId, Assert.Single((await client.GetFromJsonAsync<TransferJob[]>("/v1/transfers", Ct))!).RequestId);
    }

    [Fact]
    public async Task Transfer_DestinationDown_IsRetriedThenFailed_AndAMissingSourceIsRefused()
    {
        Directory.CreateDirectory(A.Storage);
        File.WriteAllBytes(Path.Combine(A.Storage, "f.bin"), [1, 2, 3]);
        using var client = A.ClientWith(null);
        var readToken = A.Token("alice", "storage.read:/");

        var (_, job, _) = await SubmitAsync(client, new { source = new Uri(A.Url, "/f.bin").AbsoluteUri, destination = $"http://127.0.0.1:{Loopback.FreePort()}/f.bin", sourceToken = readToken });
        var failed = await WaitAsync(client, job!.RequestId);
        Assert.Equal("failed", failed.State);
        Assert.Equal(3, failed.Attempts); // may pass: tried MaxAttempts times
        Assert.Contains("could not be reached", failed.Error, StringComparison.Ordinal);

        var (missing, _, body) = await SubmitAsync(client, new { source = new Uri(A.Url, "/nope.bin").AbsoluteUri, destination = new Uri(B.Url, "/x").AbsoluteUri, sourceToken = readToken });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, missing);
        Assert.Contains("404", body, StringComparison.Ordinal);

        var (bad, _, _) = await SubmitAsync(client, new { source = "root://eos/f", destination = new Uri(B.Url, "/x").AbsoluteUri });
        Assert.Equal(HttpStatusCode.BadRequest, bad);
    }

    [Fact]
    public async Task Transfers_AreTheirOwnersOnly()
    {
        Directory.CreateDirectory(A.Storage);
        File.WriteAllBytes(Path.Combine(A.Storage, "f.bin"), [1]);
        using var alice = A.ClientWith(null);
        using var bob = A.CreateClient();
        bob.DefaultRequestHeaders.Authorization = new("Bearer", A.Token("bob", null));
        using var anonymous = A.CreateClient();

        var (_, job, _) = await SubmitAsync(alice, new { source = new Uri(A.Url, "/f.bin").AbsoluteUri, destination = new Uri(B.Url, "/g.bin").AbsoluteUri, sourceToken = A.Token("alice", "storage.read:/"), destinationToken = B.Token("alice", "storage.create:/") });

        Assert.Equal(HttpStatusCode.Forbidden, (await bob.GetAsync($"/v1/transfers/{job!.RequestId}", Ct)).StatusCode);
        Assert.Empty((await bob.GetFromJsonAsync<TransferJob[]>("/v1/transfers", Ct))!);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/v1/transfers", Ct)).StatusCode);
        Assert.Equal("done", (await WaitAsync(alice, job.RequestId)).State);
    }
}
