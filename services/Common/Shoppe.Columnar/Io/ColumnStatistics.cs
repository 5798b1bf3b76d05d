namespace Shoppe.Columnar.Io;

/// <summary>
/// What a Parquet footer says of one column in one row group: its smallest and largest value (booleans as 0 and 1)
/// and how many values are null (for a per-object column, also counting events with no objects).
/// </summary>
/// <param name="Min">The smallest value that is not NaN.</param>
/// <param name="Max">The largest value that is not NaN.</param>
/// <param name="Nulls">How many values are null.</param>
public sealed record ColumnStatistics(double Min, double Max, long Nulls);
