using System.Text.Json;
using Shoppe.Pushdown.Client;
using Shoppe.Pushdown.Scans;
using Shoppe.Pushdown.Storage;
using Shoppe.Security;

namespace Shoppe.Pushdown.Apis;

/// <summary><c>/v1/datasets</c>: the datasets this node names, with their files, events and sizes (from the files' footers).</summary>
public static class DatasetsApi
{
    public static IEndpointRouteBuilder MapDatasetsApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/v1/datasets").RequireAuthorization(ShoppeClaims.UserPolicy);
        group.MapGet("", ListAsync).WithName("ListDatasets").WithSummary("The datasets this node names");
        group.MapGet("/{name}", GetAsync).WithName("GetDataset").WithSummary("One dataset's files, events and sizes");
        return routes;
    }

    private static async Task<IResult> ListAsync(StorageCatalog storage, CancellationToken cancellationToken)
    {
        var datasets = new List<DatasetInfo>();
        foreach (var name in storage.Names)
        {
            try
            {
                datasets.Add(await DescribeAsync(storage, name, cancellationToken));
            }
            catch (ScanRequestException)
            {
                datasets.Add(new DatasetInfo(name, [], 0, 0)); // configured but empty or missing: listed, with nothing in it
            }
        }

        return TypedResults.Json<IReadOnlyList<DatasetInfo>>(datasets, PushdownJsonContext.Default.IReadOnlyListDatasetInfo);
    }

    private static async Task<IResult> GetAsync(string name, StorageCatalog storage, CancellationToken cancellationToken)
    {
        try
        {
            return TypedResults.Json(await DescribeAsync(storage, name, cancellationToken), PushdownJsonContext.Default.DatasetInfo);
        }
        catch (Exception ex) when (ScansApi.Problem(ex) is { } problem)
        {
            return problem;
        }
    }

    /// <summary>A dataset's files as their footers describe them.</summary>
    public static Task<DatasetInfo> DescribeAsync(StorageCatalog storage, string name, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(storage);
        var files = storage.Resolve(JsonSerializer.SerializeToElement(name, PushdownJsonContext.Default.String), out _);
        return Task.Run(() =>
        {
            var described = new List<DatasetFileInfo>();
            foreach (var file in files)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var opened = ScanPlanner.Open(file);
                described.Add(new DatasetFileInfo(file.Name, opened.Events, opened.RowGroups, opened.Length));
            }

            return new DatasetInfo(name, described, described.Sum(f => f.Events), described.Sum(f => f.Bytes));
        }, cancellationToken);
    }
}
