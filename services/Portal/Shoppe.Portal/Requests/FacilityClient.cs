using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;

namespace Shoppe.Portal.Requests;

/// <summary>What a service answered when it did not answer with what was asked: its status and problem text.</summary>
public sealed class ServiceCallException(string service, HttpStatusCode status, string detail)
    : Exception($"{service} answered {(int)status}: {detail}")
{
    /// <summary>The service asked.</summary>
    public string Service { get; } = service;

    /// <summary>The status it answered.</summary>
    public HttpStatusCode Status { get; } = status;

    /// <summary>Its problem's detail, or its text.</summary>
    public string Detail { get; } = detail;
}

/// <summary>
/// The portal's calls to the facility's services, always with the signed-in user's own token (never one of the
/// portal's): a service shows each user what it would show them anyway, and an operator everything.
/// </summary>
public sealed class FacilityClient(HttpClient http)
{
    /// <summary>The user's requests of every kind (an operator's: everyone's), newest first, at most <paramref name="limit"/> of each kind.</summary>
    /// <returns>The rows, and the services that could not be asked (named, with why).</returns>
    public async Task<(List<RequestRow> Rows, List<string> Missing)> ListAsync(string token, IReadOnlyCollection<string> kinds, int limit, CancellationToken cancellationToken)
    {
        var asked = kinds.Select(async kind =>
        {
            var (service, list, _) = RequestKinds.Paths(kind);
            try
            {
                using var document = await GetJsonAsync(service, $"{list}?limit={limit}", token, cancellationToken);
                return (Rows: document.RootElement.EnumerateArray().Select(e => RequestRow.From(kind, e)).ToList(), Missing: (string?)null);
            }
            catch (Exception ex) when (ex is HttpRequestException or ServiceCallException or JsonException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
            {
                return (Rows: new List<RequestRow>(), Missing: $"{service}: {ex.Message}");
            }
        });
        var answers = await Task.WhenAll(asked);
        var rows = answers.SelectMany(a => a.Rows).OrderByDescending(r => r.Submitted).ThenBy(r => r.Id, StringComparer.Ordinal).ToList();
        return (rows, answers.Where(a => a.Missing is not null).Select(a => a.Missing!).ToList());
    }

    /// <summary>One request's status as its service gives it (JSON), or null where it has none by that id.</summary>
    /// <exception cref="ServiceCallException">The service refused (403: another user's).</exception>
    public async Task<JsonDocument?> GetAsync(string kind, string id, string token, CancellationToken cancellationToken)
    {
        var (service, _, one) = RequestKinds.Paths(kind);
        try
        {
            return await GetJsonAsync(service, one + Uri.EscapeDataString(id), token, cancellationToken);
        }
        catch (ServiceCallException ex) when (ex.Status == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    /// <summary>
    /// One request's status if the reader may see it, else null: none by that id, another user's (403) and an id the
    /// service refuses (400) read alike, as the portal shows them (a 404 page, nothing to report on or follow).
    /// </summary>
    public async Task<JsonDocument?> GetVisibleAsync(string kind, string id, string token, CancellationToken cancellationToken)
    {
        try
        {
            return await GetAsync(kind, id, token, cancellationToken);
        }
        catch (ServiceCallException ex) when (ex.Status is HttpStatusCode.Forbidden or HttpStatusCode.BadRequest)
        {
            return null;
        }
    }

    /// <summary>A JSON answer of <paramref name="service"/> to <c>GET path</c> with the user's token.</summary>
    /// <exception cref="ServiceCallException">It answered anything but success.</exception>
    public async Task<JsonDocument> GetJsonAsync(string service, string path, string token, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(service, path, token, HttpCompletionOption.ResponseContentRead, cancellationToken);
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
        return await JsonDocument.ParseAsync(body, cancellationToken: cancellationToken);
    }

    /// <summary>A streamed answer (a download, an event stream): the caller disposes it.</summary>
    /// <exception cref="ServiceCallException">It answered anything but success.</exception>
    public async Task<HttpResponseMessage> SendAsync(string service, string path, string token, HttpCompletionOption completion, CancellationToken cancellationToken, string? accept = null)
    {
        using var message = new HttpRequestMessage(HttpMethod.Get, new Uri($"http://{service}/{path}"));
        message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        if (accept is not null)
        {
            message.Headers.Accept.ParseAdd(accept);
        }

        var response = await http.SendAsync(message, completion, cancellationToken);
        if (response.IsSuccessStatusCode)
        {
            return response;
        }

        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken);
            var detail = text;
            try
            {
                using var problem = JsonDocument.Parse(text);
                detail = problem.RootElement.TryGetProperty("detail", out var d) ? d.GetString() ?? text : text;
            }
            catch (JsonException)
            {
                // not a problem document: its text, shortened
            }

            throw new ServiceCallException(service, response.StatusCode, detail.Length > 300 ? detail[..300] : detail);
        }
    }
}
