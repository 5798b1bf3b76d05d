using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using Apache.Arrow.Ipc;

namespace Shoppe.Conformance;

/// <summary>The pushdown service's checks: a scan of the dataset over HTTP (an Arrow stream), and its refusals.</summary>
public sealed partial class ConformanceSuite
{
    private static readonly string[] ScanColumns = ["event", "MET_pt"];
    private static readonly string[] OutsideTheStorage = ["../../../../etc/passwd"];

    /// <summary>Every event of the dataset comes back once, as Arrow, under the scan's request id.</summary>
    private async Task<string?> PushdownScanAsync(CancellationToken cancellationToken)
    {
        var id = $"conformance-{_runId}-scan";
        var request = Request(HttpMethod.Post, "pushdown", "/v1/scans", facility.Token("conformance"), id);
        request.Content = JsonContent.Create(new { dataset = facility.Dataset, columns = ScanColumns, filter = "MET_pt >= 0 || MET_pt < 0" });
        using var response = await SendAsync(request, cancellationToken, HttpCompletionOption.ResponseHeadersRead);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            throw new NotApplicableException($"the pushdown service does not name the dataset {facility.Dataset}");
        }

        Require(response.StatusCode == HttpStatusCode.OK, $"answered {(int)response.StatusCode}: {await Body(response, cancellationToken)}");
        Require(response.Content.Headers.ContentType?.MediaType == "application/vnd.apache.arrow.stream", $"the answer is {response.Content.Headers.ContentType}, not an Arrow stream");
        Require(response.Headers.TryGetValues("X-Shoppe-Request-Id", out var ids) && ids.Single() == id, "the answer does not carry the scan's request id");
        long events = 0;
        using (var reader = new ArrowStreamReader(await response.Content.ReadAsStreamAsync(cancellationToken)))
        {
            while (await reader.ReadNextRecordBatchAsync(cancellationToken) is { } batch)
            {
                events += batch.Length;
                batch.Dispose();
            }
        }

        Require(facility.DatasetEvents is not { } expected || events == expected, $"the scan gave {events} events of {facility.DatasetEvents}");
        return string.Create(CultureInfo.InvariantCulture, $"{events} events of {facility.Dataset} as an Arrow stream");
    }

    /// <summary>A bad filter is a 400 problem pointing at a character; a path out of the storage is refused.</summary>
    private async Task<string?> PushdownRefusalsAsync(CancellationToken cancellationToken)
    {
        var token = facility.Token("conformance");
        var bad = Request(HttpMethod.Post, "pushdown", "/v1/scans", token);
        bad.Content = JsonContent.Create(new { dataset = facility.Dataset, columns = EventColumn, filter = "nMuon >= " });
        using (var response = await SendAsync(bad, cancellationToken))
        {
            var body = await Body(response, cancellationToken);
            Require(response.StatusCode == HttpStatusCode.BadRequest, $"a bad filter answered {(int)response.StatusCode}: {body}");
            Require(response.Content.Headers.ContentType?.MediaType == "application/problem+json", "the answer is not problem details");
            Require(body.Contains("character", StringComparison.OrdinalIgnoreCase), $"the problem does not point at a character: {body}");
        }

        var traversal = Request(HttpMethod.Post, "pushdown", "/v1/scans", token);
        traversal.Content = JsonContent.Create(new { dataset = OutsideTheStorage, columns = EventColumn });
        using (var response = await SendAsync(traversal, cancellationToken))
        {
            Require(response.StatusCode == HttpStatusCode.Forbidden, $"a path with '..' answered {(int)response.StatusCode}: {await Body(response, cancellationToken)}");
        }

        return null;
    }
}
