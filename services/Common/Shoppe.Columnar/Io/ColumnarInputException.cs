using System.Net;

namespace Shoppe.Columnar.Io;

/// <summary>An input file that cannot be read: missing, unreachable, not Parquet, or changed while it was read.</summary>
public sealed class ColumnarInputException : Exception
{
    public ColumnarInputException()
    {
    }

    public ColumnarInputException(string message)
        : base(message)
    {
    }

    public ColumnarInputException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public ColumnarInputException(string message, HttpStatusCode status)
        : base(message)
    {
        Status = status;
    }

    /// <summary>What the server answered, where one did.</summary>
    public HttpStatusCode? Status { get; }

    /// <summary>Trying again may help (the server was unreachable, or answered 5xx or 429).</summary>
    public bool IsTransient => Status is null ? InnerException is HttpRequestException or IOException or TimeoutException : (int)Status >= 500 || Status == HttpStatusCode.TooManyRequests;
}
