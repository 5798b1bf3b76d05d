using System.Collections;
using DuckDB.NET.Data;

namespace Shoppe.Testing;

/// <summary>
/// The independent computation: DuckDB over the same Parquet files. Each value comes back as a double or a
/// double[] (a per-object list), so results compare row for row. Shared by the columnar and delivery tests.
/// </summary>
public static class DuckDb
{
    public static List<object[]> Query(string sql)
    {
        using var connection = Open();
        return Query(connection, sql);
    }

    /// <summary>An in-memory database on one thread, for a run of queries that share tables or macros.</summary>
    public static DuckDBConnection Open()
    {
        var connection = new DuckDBConnection("Data Source=:memory:");
        connection.Open();
        using var threads = connection.CreateCommand();
        threads.CommandText = "SET threads TO 1";
        threads.ExecuteNonQuery();
        return connection;
    }

    /// <summary>The rows of <paramref name="sql"/> (its last statement) on an open connection.</summary>
    public static List<object[]> Query(DuckDBConnection connection, string sql)
    {
        ArgumentNullException.ThrowIfNull(connection);
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        using var reader = command.ExecuteReader();
        var rows = new List<object[]>();
        while (reader.Read())
        {
            var row = new object[reader.FieldCount];
            for (var i = 0; i < row.Length; i++)
            {
                row[i] = Normalize(reader.GetValue(i));
            }

            rows.Add(row);
        }

        return rows;
    }

    private static object Normalize(object value) => value switch
    {
        IEnumerable list and not string => list.Cast<object>().Select(v => Convert.ToDouble(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray(),
        bool b => b ? 1.0 : 0.0,
        _ => Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>Equal row for row; numbers to a relative 1e-9 (both sides compute in double from the same float inputs), NaN to NaN, an infinity to itself.</summary>
    public static void AssertSame(List<object[]> expected, List<object[]> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (var r = 0; r < expected.Count; r++)
        {
            Assert.Equal(expected[r].Length, actual[r].Length);
            for (var c = 0; c < expected[r].Length; c++)
            {
                var (e, a) = (expected[r][c], actual[r][c]);
                if (e is double[] el)
                {
                    var al = Assert.IsType<double[]>(a);
                    Assert.True(el.Length == al.Length, $"row {r}, column {c}: {el.Length} values expected, {al.Length} written");
                    for (var i = 0; i < el.Length; i++)
                    {
                        AssertClose(el[i], al[i], $"row {r}, column {c}, element {i}");
                    }
                }
                else
                {
                    AssertClose((double)e, Assert.IsType<double>(a), $"row {r}, column {c}");
                }
            }
        }
    }

    private static void AssertClose(double expected, double actual, string where)
    {
        // expected == actual first: infinities of one sign are equal, though their difference is NaN.
        var ok = expected == actual || (double.IsNaN(expected) && double.IsNaN(actual)) || Math.Abs(expected - actual) <= 1e-9 * Math.Max(1, Math.Abs(expected));
        Assert.True(ok, $"{where}: expected {expected}, got {actual}");
    }
}
