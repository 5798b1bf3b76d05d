using System.Collections;

namespace Shoppe.ServiceDefaults;

/// <summary>
/// A logging scope that carries one attribute. Being a list of key/value pairs, OpenTelemetry turns it
/// into an attribute of every log record written inside it (<c>shoppe.request_id</c>, <c>enduser.id</c>),
/// and console formatters print it as <c>key:value</c>.
/// </summary>
public sealed class AttributeLogScope(string key, object? value) : IReadOnlyList<KeyValuePair<string, object?>>
{
    /// <summary>The attribute name.</summary>
    public string Key { get; } = key;

    /// <summary>The attribute value.</summary>
    public object? Value { get; } = value;

    /// <inheritdoc />
    public int Count => 1;

    /// <inheritdoc />
    public KeyValuePair<string, object?> this[int index] => index == 0
        ? new KeyValuePair<string, object?>(Key, Value)
        : throw new ArgumentOutOfRangeException(nameof(index));

    /// <inheritdoc />
    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator()
    {
        yield return this[0];
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <inheritdoc />
    public override string ToString() => $"{Key}:{Value}";
}
