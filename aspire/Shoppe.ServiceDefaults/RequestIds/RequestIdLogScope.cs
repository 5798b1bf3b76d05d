using System.Collections;

namespace Shoppe.ServiceDefaults.RequestIds;

/// <summary>
/// The logging scope that carries the request id. Being a list of key/value pairs, OpenTelemetry
/// turns it into the <c>shoppe.request_id</c> attribute of every log record written inside it, and
/// console formatters print it as <c>shoppe.request_id:ID</c>.
/// </summary>
internal sealed class RequestIdLogScope(string requestId) : IReadOnlyList<KeyValuePair<string, object?>>
{
    public string RequestId { get; } = requestId;

    public int Count => 1;

    public KeyValuePair<string, object?> this[int index] => index == 0
        ? new KeyValuePair<string, object?>(RequestIds.RequestId.AttributeName, RequestId)
        : throw new ArgumentOutOfRangeException(nameof(index));

    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator()
    {
        yield return this[0];
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() => $"{RequestIds.RequestId.AttributeName}:{RequestId}";
}
