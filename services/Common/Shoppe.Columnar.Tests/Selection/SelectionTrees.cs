using System.Globalization;
using System.Text;

namespace Shoppe.Columnar.Tests.Selection.Differential;

/// <summary>Numbers or booleans: the selection language keeps them apart, and so does the generator.</summary>
internal enum Kind
{
    Number,
    Bool,
}

/// <summary>
/// Where a generated value lives: one per event; one per object of a collection, aligned with its columns; a list
/// per event that no longer lines up with a collection (after a mask); one per combination of a comprehension.
/// </summary>
internal enum Place
{
    Event,
    Objects,
    List,
    Combination,
}

/// <summary>
/// A node of a generated selection. Each tree is printed twice: in the selection language
/// (<see cref="Trees.SelectionText"/>) and as DuckDB SQL over the same Parquet file (<see cref="SqlPrinter"/>).
/// </summary>
/// <param name="Kind">Number or boolean.</param>
/// <param name="Place">Where the value lives.</param>
/// <param name="Collection">The collection of a per-object value, or the one a list or comprehension comes from.</param>
internal abstract record Tree(Kind Kind, Place Place, string? Collection);

/// <summary>A number, a multiple of 1/4 (exact in binary and in decimal).</summary>
internal sealed record Constant(double Value) : Tree(Kind.Number, Place.Event, null);

/// <summary><c>true</c> or <c>false</c>.</summary>
internal sealed record Truth(bool Value) : Tree(Kind.Bool, Place.Event, null);

/// <summary>A column of the file: per event (<c>MET_pt</c>) or per object (<c>Jet_pt</c>, collection <c>Jet</c>).</summary>
internal sealed record Column(string Name, Kind ColumnKind, string? ColumnCollection)
    : Tree(ColumnKind, ColumnCollection is null ? Place.Event : Place.Objects, ColumnCollection);

/// <summary><c>m.pt</c>: a field of a comprehension's variable (the column <c>Muon_pt</c> at that object; of a
/// union's object, the column of its collection; <c>kind</c>, the position of that collection in the union).</summary>
internal sealed record Field(string Variable, string Name, Kind FieldKind) : Tree(FieldKind, Place.Combination, null);

/// <summary><c>-x</c>, <c>!x</c>, <c>abs(x)</c> and the other one-argument functions, <c>x ** 2</c> (operator "sq").</summary>
internal sealed record Unary(string Operator, Tree Operand)
    : Tree(Operator == "!" ? Kind.Bool : Kind.Number, Operand.Place, Operand.Collection);

/// <summary>Arithmetic, comparisons, <c>&amp;&amp;</c> <c>||</c>, and the two-argument functions <c>max min atan2</c>.</summary>
internal sealed record Binary(string Operator, Tree Left, Tree Right)
    : Tree(Trees.ResultKind(Operator), Trees.Wider(Left, Right).Place, Trees.Wider(Left, Right).Collection);

/// <summary><c>a &lt; b &lt;= c</c>: a chained comparison (the parser shares <c>b</c> between the two tests).</summary>
internal sealed record Chain(Tree A, string First, Tree B, string Second, Tree C)
    : Tree(Kind.Bool, Trees.Wider(Trees.Wider(A, B), C).Place, Trees.Wider(Trees.Wider(A, B), C).Collection);

/// <summary><c>count sum max min any all</c> of a per-object value or a list: one value per event.</summary>
internal sealed record Reduce(string Function, Tree Operand)
    : Tree(Function is "any" or "all" ? Kind.Bool : Kind.Number, Place.Event, null);

/// <summary><c>X[k]</c>: the k-th value per event (negative: from the end).</summary>
internal sealed record Element(Tree Target, int Index) : Tree(Target.Kind, Place.Event, null);

/// <summary><c>X[mask]</c>: the values where the mask holds.</summary>
internal sealed record Mask(Tree Target, Tree Keep) : Tree(Target.Kind, Place.List, Target.Collection);

/// <summary>
/// <c>any(a, b in Muon: body)</c>: a reduction over each object or each unordered pair of a collection. New syntax
/// (docs/selection-language.md): up to four variables, a union of collections as the source
/// (<c>Electron + Muon</c>), a <c>where</c> condition, no body (true), nesting.
/// </summary>
internal sealed record Comprehension(string Function, IReadOnlyList<string> Variables, IReadOnlyList<string> Sources, Tree? Where, Tree? Body)
    : Tree(Function is "any" or "all" ? Kind.Bool : Kind.Number, Place.Event, null)
{
    /// <summary>The body's kind: a comprehension without one counts (or tests) true.</summary>
    public Kind BodyKind => Body?.Kind ?? Kind.Bool;
}

/// <summary><c>mass(a, b)</c>, <c>pt(a, b)</c>, <c>deltaR(a, b)</c> of a comprehension's objects; new syntax: any
/// number of objects, <c>mt(x, y)</c>, and <c>MET</c> as an object (MET_pt, MET_phi).</summary>
internal sealed record Kinematic(string Function, IReadOnlyList<string> Arguments) : Tree(Kind.Number, Place.Combination, null);

/// <summary>New syntax: <c>argmin(a, b in Jet: body).pt</c> (of the four-vector sum of the chosen objects) or
/// <c>argmax(...).a.btagDeepB</c> (<paramref name="Variable"/>: a field of one chosen object); NaN without a
/// combination.</summary>
internal sealed record Choice(string Function, Comprehension Over, string? Variable, string Name) : Tree(Kind.Number, Place.Event, null);

/// <summary>New syntax: <c>l == m</c> / <c>l != m</c>, whether two variables (of one source) stand for the same object.</summary>
internal sealed record Identity(string Left, string Right, bool Same) : Tree(Kind.Bool, Place.Combination, null);

/// <summary><c>max(a, b, c, ...)</c> / <c>min(...)</c> element-wise, two or more arguments (more than two: new syntax).</summary>
internal sealed record Extremum(string Function, IReadOnlyList<Tree> Arguments)
    : Tree(Kind.Number, Arguments.Aggregate(Trees.Wider).Place, Arguments.Aggregate(Trees.Wider).Collection);

/// <summary>A generated query: an optional event filter and one or more output columns.</summary>
internal sealed record RandomQuery(Tree? Filter, IReadOnlyList<Tree> Columns)
{
    /// <summary>The columns as the query compiler takes them (<c>c0 = expr</c>).</summary>
    public IReadOnlyList<string> ColumnTexts => Columns.Select((c, i) => $"c{i} = {Trees.SelectionText(c)}").ToArray();

    public string? FilterText => Filter is null ? null : Trees.SelectionText(Filter);

    /// <summary>Both sides, for a failure message.</summary>
    public string Describe(string file) =>
        $"columns: {string.Join(" ; ", ColumnTexts)}\nfilter:  {FilterText ?? "(none)"}\nSQL:\n{Trees.Macros}{Trees.DuckDbSelect(this, Trees.ParquetSource(file))}";
}

/// <summary>The two printers of a <see cref="Tree"/>, and the typing rules they share.</summary>
internal static class Trees
{
    public static Kind ResultKind(string op) => op switch
    {
        "+" or "-" or "*" or "/" or "%" or "max" or "min" or "atan2" => Kind.Number,
        _ => Kind.Bool,
    };

    /// <summary>Of two operands, the one that decides where the result lives (a per-event value repeats for each object).</summary>
    public static Tree Wider(Tree a, Tree b) => a.Place >= b.Place ? a : b;

    private static string Number(double value) =>
        value < 0 ? $"({value.ToString(CultureInfo.InvariantCulture)})" : value.ToString(CultureInfo.InvariantCulture);

    /// <summary>The tree in the selection language, fully parenthesised (only <see cref="Chain"/> chains).</summary>
    public static string SelectionText(Tree tree) => tree switch
    {
        Constant c => Number(c.Value),
        Truth t => t.Value ? "true" : "false",
        Column c => c.Name,
        Field f => $"{f.Variable}.{f.Name}",
        Unary { Operator: "-" } u => $"-({SelectionText(u.Operand)})",
        Unary { Operator: "!" } u => $"!({SelectionText(u.Operand)})",
        Unary { Operator: "sq" } u => $"({SelectionText(u.Operand)}) ** 2",
        Unary u => $"{u.Operator}({SelectionText(u.Operand)})",
        Binary { Operator: "max" or "min" or "atan2" } b => $"{b.Operator}({SelectionText(b.Left)}, {SelectionText(b.Right)})",
        Binary b => $"({SelectionText(b.Left)} {b.Operator} {SelectionText(b.Right)})",
        Chain c => $"({SelectionText(c.A)} {c.First} {SelectionText(c.B)} {c.Second} {SelectionText(c.C)})",
        Reduce r => $"{r.Function}({SelectionText(r.Operand)})",
        Element e => $"{Postfix(e.Target)}[{e.Index.ToString(CultureInfo.InvariantCulture)}]",
        Mask m => $"{Postfix(m.Target)}[{SelectionText(m.Keep)}]",
        Comprehension c => $"{c.Function}({Combinations(c)})",
        Kinematic k => $"{k.Function}({string.Join(", ", k.Arguments)})",
        Choice c => $"{c.Function}({Combinations(c.Over)}).{(c.Variable is null ? "" : c.Variable + ".")}{c.Name}",
        Extremum e => $"{e.Function}({string.Join(", ", e.Arguments.Select(SelectionText))})",
        Identity i => $"({i.Left} {(i.Same ? "==" : "!=")} {i.Right})",
        _ => throw new ArgumentOutOfRangeException(nameof(tree), tree, null),
    };

    private static string Combinations(Comprehension c) =>
        $"{string.Join(", ", c.Variables)} in {string.Join(" + ", c.Sources)}"
        + (c.Where is null ? "" : $" where {SelectionText(c.Where)}")
        + (c.Body is null ? "" : $": {SelectionText(c.Body)}");

    /// <summary>A target of <c>[...]</c>: a name or a bracketed value as it is, anything else in parentheses.</summary>
    private static string Postfix(Tree tree) => tree is Column or Mask or Element ? SelectionText(tree) : $"({SelectionText(tree)})";

    /// <summary>
    /// Definitions the SQL relies on. DuckDB orders NaN above every number and holds NaN = NaN, where the selection
    /// language (IEEE) makes every comparison with NaN false but <c>!=</c>: comparisons go through <c>nullif(x, NaN)</c>
    /// and a coalesce. <c>max(a, b)</c> is NaN when either is NaN (Math.Max), as is <c>greatest</c> with NaN on top;
    /// <c>min</c> is its mirror. DuckDB raises errors where IEEE gives NaN or infinity (sqrt and logarithms of
    /// negatives and zero, sine of infinity): those are spelled out.
    /// </summary>
    public const string Macros = """
        CREATE MACRO nan_() AS CAST('nan' AS DOUBLE);
        CREATE MACRO lt_(a, b) AS coalesce(nullif(a, nan_()) < nullif(b, nan_()), false);
        CREATE MACRO le_(a, b) AS coalesce(nullif(a, nan_()) <= nullif(b, nan_()), false);
        CREATE MACRO gt_(a, b) AS coalesce(nullif(a, nan_()) > nullif(b, nan_()), false);
        CREATE MACRO ge_(a, b) AS coalesce(nullif(a, nan_()) >= nullif(b, nan_()), false);
        CREATE MACRO eq_(a, b) AS coalesce(nullif(a, nan_()) = nullif(b, nan_()), false);
        CREATE MACRO ne_(a, b) AS coalesce(nullif(a, nan_()) <> nullif(b, nan_()), true);
        CREATE MACRO max_(a, b) AS greatest(a, b);
        CREATE MACRO min_(a, b) AS -greatest(-a, -b);
        CREATE MACRO sqrt_(v) AS CASE WHEN v < 0 THEN nan_() ELSE sqrt(v) END;
        CREATE MACRO log_(v) AS CASE WHEN v < 0 THEN nan_() WHEN v = 0 THEN CAST('-inf' AS DOUBLE) ELSE ln(v) END;
        CREATE MACRO log10_(v) AS CASE WHEN v < 0 THEN nan_() WHEN v = 0 THEN CAST('-inf' AS DOUBLE) ELSE log10(v) END;
        CREATE MACRO sin_(v) AS CASE WHEN isinf(v) THEN nan_() ELSE sin(v) END;
        CREATE MACRO cos_(v) AS CASE WHEN isinf(v) THEN nan_() ELSE cos(v) END;
        CREATE MACRO tan_(v) AS CASE WHEN isinf(v) THEN nan_() ELSE tan(v) END;
        CREATE MACRO dphi_(d) AS d - 2 * pi() * round_even(d / (2 * pi()), 0);

        """;

    /// <summary>The file as a DuckDB table source, with the row number that keeps file order.</summary>
    public static string ParquetSource(string file) => $"read_parquet('{file}', file_row_number = true)";

    /// <summary>The query as one DuckDB SELECT over <paramref name="source"/> (which has the file's columns and
    /// <c>file_row_number</c>), given <see cref="Macros"/>: the same columns, the same events, in file order.</summary>
    public static string DuckDbSelect(RandomQuery query, string source)
    {
        var sql = new SqlPrinter();
        var columns = string.Join(",\n       ", query.Columns.Select(sql.Output));
        var where = query.Filter is null ? "" : $"\nWHERE {sql.Print(query.Filter, SqlScope.Empty)}";
        return $"SELECT {columns}\nFROM {source} ev{where}\nORDER BY file_row_number";
    }
}

/// <summary>A comprehension's variable in SQL: the lambda variable of its position (1-based) in its source.</summary>
/// <param name="Index">The lambda variable.</param>
/// <param name="Sources">The source's collections: a position past the first one's objects is in the next.</param>
internal sealed record Bound(string Index, IReadOnlyList<string> Sources);

/// <summary>What a SQL fragment is inside: the lambda variable of the current object, and the comprehensions' variables.</summary>
internal sealed record SqlScope(string? Index, IReadOnlyDictionary<string, Bound> Variables)
{
    public static readonly SqlScope Empty = new(null, new Dictionary<string, Bound>());
}

/// <summary>
/// Prints a <see cref="Tree"/> as DuckDB SQL over one row of the file (alias <c>ev</c>). A per-event value is a scalar
/// expression; a per-object value is an expression in the index of the current object (1-based, a lambda variable),
/// made a list with <c>list_transform(range(1, n + 1), ...)</c> where needed; a list (after a mask) is a DuckDB list;
/// a comprehension is a list of its body's values over i &lt; j &lt; ... in file order (pairs (1, 2), (1, 3), ...,
/// (2, 3), ...), a union's positions running over its first collection, then the next. Every number is a DOUBLE
/// (the selection language computes in double), and no value is ever NULL.
/// </summary>
internal sealed class SqlPrinter
{
    private int _names;

    private string Fresh(string prefix) => $"{prefix}{++_names}";

    /// <summary>An output column: a per-event value, or a per-object value as a list.</summary>
    public string Output(Tree tree) => tree.Place is Place.Objects or Place.List ? ListOf(tree, SqlScope.Empty) : Print(tree, SqlScope.Empty);

    private static string Length(string collection) => $"len(ev.{collection}_pt)";

    private static string Length(IReadOnlyList<string> sources) => string.Join(" + ", sources.Select(Length));

    private static string Read(string column, Kind kind, string? index)
    {
        var value = index is null ? $"ev.{column}" : $"ev.{column}[{index}]";
        return kind == Kind.Number ? $"CAST({value} AS DOUBLE)" : value;
    }

    /// <summary>A field of the object at a position of a source: the column of the collection the position falls in.</summary>
    private static string ReadField(IReadOnlyList<string> sources, string field, Kind kind, string position)
    {
        if (sources.Count == 1)
        {
            return field == "kind" ? "CAST(0 AS DOUBLE)" : Read($"{sources[0]}_{field}", kind, position);
        }

        var text = new StringBuilder("CASE");
        var before = "0";
        for (var s = 0; s < sources.Count; s++)
        {
            var at = before == "0" ? position : $"{position} - ({before})";
            var value = field == "kind" ? $"CAST({s} AS DOUBLE)" : Read($"{sources[s]}_{field}", kind, at);
            text.Append(s + 1 < sources.Count ? $" WHEN {position} <= {(before == "0" ? "" : before + " + ")}{Length(sources[s])} THEN {value}" : $" ELSE {value} END");
            before = before == "0" ? Length(sources[s]) : $"{before} + {Length(sources[s])}";
        }

        return text.ToString();
    }

    /// <summary>A per-object value or a list, as a DuckDB list.</summary>
    private string ListOf(Tree tree, SqlScope scope)
    {
        if (tree.Place == Place.List)
        {
            return Print(tree, scope);
        }

        var i = Fresh("i");
        return $"list_transform(range(1, {Length(tree.Collection!)} + 1), lambda {i}: {Print(tree, scope with { Index = i })})";
    }

    public string Print(Tree tree, SqlScope scope)
    {
        if (tree.Place == Place.List && tree is Unary or Binary or Chain or Extremum)
        {
            // One operand is the list, the others are per event: the operation applies to each element.
            var x = Fresh("x");
            var children = Children(tree);
            var list = children.Single(c => c.Place == Place.List);
            var operands = children.Select(c => ReferenceEquals(c, list) ? x : Print(c, scope)).ToArray();
            return $"list_transform({Print(list, scope)}, lambda {x}: {Operation(tree, operands)})";
        }

        return tree switch
        {
            Constant c => $"CAST({c.Value.ToString(CultureInfo.InvariantCulture)} AS DOUBLE)",
            Truth t => t.Value ? "true" : "false",
            Column c => Read(c.Name, c.Kind, c.Place == Place.Objects ? scope.Index : null),
            Field f => ReadField(scope.Variables[f.Variable].Sources, f.Name, f.Kind, scope.Variables[f.Variable].Index),
            Unary or Binary or Chain or Extremum => Operation(tree, Children(tree).Select(c => Print(c, scope)).ToArray()),
            Reduce r => Reduction(r.Function, r.Operand.Kind, ListOf(r.Operand, scope)),
            Element e => Pick(e, scope),
            Mask m => Masked(m, scope),
            Comprehension c => Reduction(c.Function, c.BodyKind, Combinations(c, scope, (body, _) => body)),
            Kinematic k => Kinematics(k.Function, k.Arguments.Select(a => Object(a, scope)).ToArray()),
            Choice c => Chosen(c, scope),
            Identity i => $"({scope.Variables[i.Left].Index} {(i.Same ? "=" : "<>")} {scope.Variables[i.Right].Index})",
            _ => throw new ArgumentOutOfRangeException(nameof(tree), tree, null),
        };
    }

    private static Tree[] Children(Tree tree) => tree switch
    {
        Unary u => [u.Operand],
        Binary b => [b.Left, b.Right],
        Chain c => [c.A, c.B, c.C],
        Extremum e => [.. e.Arguments],
        _ => [],
    };

    private static string Operation(Tree tree, string[] o) => tree switch
    {
        Unary { Operator: "-" } => $"(-{o[0]})",
        Unary { Operator: "!" } => $"(NOT {o[0]})",
        Unary { Operator: "sq" } => $"pow({o[0]}, 2)",
        Unary { Operator: "abs" or "sinh" or "cosh" or "tanh" or "exp" or "atan" } u => $"{u.Operator}({o[0]})",
        Unary u => $"{u.Operator}_({o[0]})",
        Binary { Operator: "&&" } => $"({o[0]} AND {o[1]})",
        Binary { Operator: "||" } => $"({o[0]} OR {o[1]})",
        Binary { Operator: "==" or "!=" } b when b.Left.Kind == Kind.Bool => $"({o[0]} {(b.Operator == "==" ? "=" : "<>")} {o[1]})",
        Binary { Operator: "+" or "-" or "*" or "/" or "%" } b => $"({o[0]} {b.Operator} {o[1]})",
        Binary { Operator: "max" or "min" } b => $"{b.Operator}_({o[0]}, {o[1]})",
        Binary { Operator: "atan2" } => $"atan2({o[0]}, {o[1]})",
        Binary b => Compare(b.Operator, o[0], o[1]),
        Chain c => $"({Compare(c.First, o[0], o[1])} AND {Compare(c.Second, o[1], o[2])})",
        Extremum e => o.Skip(1).Aggregate(o[0], (a, b) => $"{e.Function}_({a}, {b})"),
        _ => throw new ArgumentOutOfRangeException(nameof(tree), tree, null),
    };

    private static string Compare(string op, string a, string b)
    {
        var name = op switch { "<" => "lt_", "<=" => "le_", ">" => "gt_", ">=" => "ge_", "==" => "eq_", _ => "ne_" };
        return $"{name}({a}, {b})";
    }

    /// <summary>A reduction of a list: count of true values (booleans) or of elements (numbers); sum 0 and max/min NaN when empty.</summary>
    private string Reduction(string function, Kind kind, string list)
    {
        var x = Fresh("x");
        return function switch
        {
            "count" when kind == Kind.Bool => $"CAST(len(list_filter({list}, lambda {x}: {x})) AS DOUBLE)",
            "count" => $"CAST(len({list}) AS DOUBLE)",
            "sum" => $"coalesce(list_sum({list}), CAST(0 AS DOUBLE))",
            // list_max puts NaN on top: NaN as soon as one element is NaN, as Math.Max does element after element.
            "max" => $"coalesce(list_max({list}), nan_())",
            "min" => $"(-coalesce(list_max(list_transform({list}, lambda {x}: -{x})), nan_()))",
            "any" => $"(len(list_filter({list}, lambda {x}: {x})) > 0)",
            "all" => $"(len(list_filter({list}, lambda {x}: NOT {x})) = 0)",
            _ => throw new ArgumentOutOfRangeException(nameof(function), function, null),
        };
    }

    /// <summary><c>X[k]</c>: DuckDB lists are 1-based and take negative positions from the end; none is NaN.</summary>
    private string Pick(Element element, SqlScope scope)
    {
        var position = element.Index >= 0 ? element.Index + 1 : element.Index;
        var none = element.Kind == Kind.Number ? "nan_()" : "false";
        return $"coalesce(list_extract({ListOf(element.Target, scope)}, {position.ToString(CultureInfo.InvariantCulture)}), {none})";
    }

    private string Masked(Mask mask, SqlScope scope)
    {
        if (mask.Target.Place == Place.List)
        {
            var x = Fresh("x");
            return $"list_filter({Print(mask.Target, scope)}, lambda {x}: {Print(mask.Keep, scope)})";
        }

        var i = Fresh("i");
        var inner = scope with { Index = i };
        return $"list_transform(list_filter(range(1, {Length(mask.Target.Collection!)} + 1), lambda {i}: {Print(mask.Keep, inner)}), lambda {i}: {Print(mask.Target, inner)})";
    }

    /// <summary>
    /// A list with an element per combination i &lt; j &lt; ... of the source that passes the where-condition, in the
    /// engine's order: <paramref name="element"/> of the body's SQL and the variables' lambda names.
    /// </summary>
    private string Combinations(Comprehension comprehension, SqlScope scope, Func<string, string[], string> element)
    {
        var n = Length(comprehension.Sources);
        var names = comprehension.Variables.Select(_ => Fresh("i")).ToArray();
        var variables = new Dictionary<string, Bound>(scope.Variables);
        for (var v = 0; v < names.Length; v++)
        {
            variables[comprehension.Variables[v]] = new Bound(names[v], comprehension.Sources);
        }

        var inner = scope with { Variables = variables };
        var body = element(comprehension.Body is null ? "true" : Print(comprehension.Body, inner), names);
        string Range(int v) => v == 0 ? $"range(1, {n} + 1)" : $"range({names[v - 1]} + 1, {n} + 1)";
        var last = names.Length - 1;
        var kept = comprehension.Where is null ? Range(last) : $"list_filter({Range(last)}, lambda {names[last]}: {Print(comprehension.Where, inner)})";
        var text = $"list_transform({kept}, lambda {names[last]}: {body})";
        for (var v = last - 1; v >= 0; v--)
        {
            text = $"flatten(list_transform({Range(v)}, lambda {names[v]}: {text}))";
        }

        return text;
    }

    /// <summary>An object of a kinematic function: a variable's position in its source, or the MET pseudo-object.</summary>
    private static Func<string, string> Object(string argument, SqlScope scope)
    {
        if (argument == "MET")
        {
            return field => field switch
            {
                "pt" => "CAST(ev.MET_pt AS DOUBLE)",
                "phi" => "CAST(ev.MET_phi AS DOUBLE)",
                _ => "CAST(0 AS DOUBLE)",
            };
        }

        var bound = scope.Variables[argument];
        return field => ReadField(bound.Sources, field, Kind.Number, bound.Index);
    }

    /// <summary>
    /// Four-vectors in double precision from (pt, eta, phi, mass), summed in the order of the arguments; deltaR
    /// with dphi wrapped by the IEEE remainder; mt = sqrt(2 pt_x pt_y (1 - cos(phi_x - phi_y))). One object's
    /// pt, eta, phi or mass is its own column (NanoAOD stores small negative masses, which a four-vector cannot give).
    /// </summary>
    private static string Kinematics(string function, Func<string, string>[] objects)
    {
        if (objects.Length == 1 && function is "pt" or "eta" or "phi" or "mass")
        {
            return objects[0](function);
        }

        if (function == "deltaR")
        {
            var (a, b) = (objects[0], objects[1]);
            var deta = $"({a("eta")} - {b("eta")})";
            var dphi = $"dphi_({a("phi")} - {b("phi")})";
            return $"sqrt(({deta} * {deta}) + ({dphi} * {dphi}))";
        }

        if (function == "mt")
        {
            var (a, b) = (objects[0], objects[1]);
            return $"sqrt(((2 * {a("pt")}) * {b("pt")}) * (1 - cos({a("phi")} - {b("phi")})))";
        }

        static string Px(Func<string, string> o) => $"({o("pt")} * cos({o("phi")}))";
        static string Py(Func<string, string> o) => $"({o("pt")} * sin({o("phi")}))";
        static string Pz(Func<string, string> o) => $"({o("pt")} * sinh({o("eta")}))";
        static string E(Func<string, string> o) => $"sqrt(((({Px(o)} * {Px(o)}) + ({Py(o)} * {Py(o)})) + ({Pz(o)} * {Pz(o)})) + ({o("mass")} * {o("mass")}))";
        string Sum(Func<Func<string, string>, string> part) => "(" + string.Join(" + ", objects.Select(part)) + ")";
        var (x, y, z, e) = (Sum(Px), Sum(Py), Sum(Pz), Sum(E));
        return function switch
        {
            "pt" => $"sqrt(({x} * {x}) + ({y} * {y}))",
            "phi" => $"atan2({y}, {x})",
            "eta" => $"asinh({z} / sqrt(({x} * {x}) + ({y} * {y})))",
            _ => $"sqrt(greatest(0, ((({e} * {e}) - ({x} * {x})) - ({y} * {y})) - ({z} * {z})))",
        };
    }

    /// <summary>
    /// <c>argmin(...)</c> / <c>argmax(...)</c>: the first combination whose body is least (greatest), NaN bodies never
    /// chosen, as a struct of the variables' positions (NULL without one, every field then NaN); a field of it.
    /// </summary>
    private string Chosen(Choice choice, SqlScope scope)
    {
        var over = choice.Over;
        var combinations = Combinations(over, scope, (body, names) =>
            "{'v': " + body + string.Concat(names.Select((n, v) => $", 'i{v}': {n}")) + "}");
        var (l, s, t, c) = (Fresh("l"), Fresh("s"), Fresh("s"), Fresh("c"));
        var best = choice.Function == "argmin" ? "list_min" : "list_max";
        var chosen = $"list_transform([{combinations}], lambda {l}: list_filter({l}, lambda {s}: {s}.v = {best}(list_transform(list_filter({l}, lambda {t}: NOT isnan({t}.v)), lambda {t}: {t}.v)))[1])[1]";
        var objects = over.Variables.Select((_, v) => (Func<string, string>)(field => ReadField(over.Sources, field, Kind.Number, $"{c}.i{v}"))).ToArray();
        var value = choice.Variable is { } variable
            ? objects[over.Variables.ToList().IndexOf(variable)](choice.Name)
            : choice.Name is "pt" or "eta" or "phi" or "mass" ? Kinematics(choice.Name, objects) : objects[0](choice.Name);
        return $"list_transform([{chosen}], lambda {c}: CASE WHEN {c} IS NULL THEN nan_() ELSE {value} END)[1]";
    }
}
