namespace Shoppe.Columnar.Selection;

/// <summary>
/// A selection that cannot be parsed or does not fit the dataset. <see cref="Position"/> is the 0-based character
/// where it went wrong; the message says it 1-based, as an editor would, and names the column where one is at fault.
/// </summary>
public sealed class SelectionException : Exception
{
    public SelectionException(string reason, string text, int position, string? column = null)
        : base(Format(reason, text, position, column))
    {
        Reason = reason;
        Text = text;
        Position = Math.Clamp(position, 0, text.Length);
        Column = column;
    }

    public SelectionException()
        : this("the selection is not valid", "", 0)
    {
    }

    public SelectionException(string message)
        : this(message, "", 0)
    {
    }

    public SelectionException(string message, Exception innerException)
        : base(message, innerException)
    {
        Reason = message;
        Text = "";
    }

    /// <summary>What is wrong, without the position.</summary>
    public string Reason { get; }

    /// <summary>The expression as given.</summary>
    public string Text { get; }

    public int Position { get; }

    /// <summary>The column at fault, where there is one.</summary>
    public string? Column { get; }

    /// <summary>Which output column or the filter the expression was (set by the query compiler).</summary>
    public string? Where { get; init; }

    private static string Format(string reason, string text, int position, string? column) =>
        $"{reason} (at character {Math.Clamp(position, 0, text.Length) + 1}{(column is null ? "" : $", column {column}")})";
}
