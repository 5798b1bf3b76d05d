using System.Diagnostics;

namespace Shoppe.ServiceDefaults.RequestIds;

/// <summary>
/// Forwards the current request id on every outgoing HttpClient call as <c>X-Shoppe-Request-Id</c>.
/// (W3C baggage travels too: the runtime's propagator writes the activity's baggage.)
/// </summary>
public sealed class RequestIdPropagationHandler : DelegatingHandler
{
    /// <inheritdoc />
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        AddHeader(request);
        return base.SendAsync(request, cancellationToken);
    }

    /// <inheritdoc />
    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        AddHeader(request);
        return base.Send(request, cancellationToken);
    }

    private static void AddHeader(HttpRequestMessage request)
    {
        if (request.Headers.Contains(RequestId.HeaderName))
        {
            return; // the caller chose an id for this call explicitly
        }

        var requestId = RequestId.Current ?? Activity.Current?.GetBaggageItem(RequestId.AttributeName);
        if (RequestId.IsValid(requestId))
        {
            request.Headers.TryAddWithoutValidation(RequestId.HeaderName, requestId);
        }
    }
}
