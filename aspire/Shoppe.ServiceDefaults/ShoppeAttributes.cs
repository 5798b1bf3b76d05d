namespace Shoppe.ServiceDefaults;

/// <summary>
/// The attribute names that tie telemetry to a user's request: written by every service (the request-id
/// middleware, the security middleware, workers) and read by the logs service. One definition for all.
/// </summary>
public static class ShoppeAttributes
{
    /// <summary>The request a span, log record or baggage item belongs to.</summary>
    public const string RequestId = "shoppe.request_id";

    /// <summary>The user (not a service) a request was made for; OpenTelemetry's semantic convention.</summary>
    public const string EndUser = "enduser.id";

    /// <summary>
    /// On the record that ends a request: <c>finished</c>, <c>failed</c> or <c>cancelled</c>. Log followers
    /// stop after it.
    /// </summary>
    public const string RequestState = "shoppe.request_state";
}
