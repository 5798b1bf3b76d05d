namespace Shoppe.Columnar.Selection;

/// <summary>The data contradicts itself or the query (per-object columns of one collection with different counts).</summary>
public sealed class ColumnarDataException : Exception
{
    public ColumnarDataException()
    {
    }

    public ColumnarDataException(string message)
        : base(message)
    {
    }

    public ColumnarDataException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
