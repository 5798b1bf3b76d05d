namespace Shoppe.Columnar.Selection;

/// <summary>
/// Binds a parsed expression to a dataset's columns: every name must exist, every operation must get the kinds
/// and shapes it works on, and every error says where. The result is compiled into the query's kernel.
/// </summary>
internal sealed class Binder(Catalog catalog, string text)
{
    private readonly Dictionary<Node, Bound> _bound = new(ReferenceEqualityComparer.Instance);
    private Scope? _scope;
    private int _comprehensions;

    /// <summary>A name in force: a comprehension's variable or a let's value.</summary>
    private sealed record Scope(string Name, Variable? Variable, LetSlot? Let, Scope? Outer);

    public Bound Bind(Node node)
    {
        if (_bound.TryGetValue(node, out var seen))
        {
            seen.Shared = true;
            return seen;
        }

        var bound = BindNew(node);
        _bound[node] = bound;
        return bound;
    }

    private Bound BindNew(Node node) => node switch
    {
        NumberNode n => new ConstantBound(n.Value, ValueKind.Number),
        BoolNode b => new ConstantBound(b.Value ? 1 : 0, ValueKind.Bool),
        ColumnNode c => BindName(c),
        MemberNode m => BindMember(m),
        UnaryNode u => BindUnary(u),
        BinaryNode b => BindBinary(b),
        CallNode c => BindCall(c),
        IndexNode i => BindIndex(i),
        LetNode l => BindLet(l),
        MembershipNode m => BindMembership(m),
        ComprehensionNode c => throw Error(c, "a comprehension ('x in Muon: ...') goes inside any(), all(), count(), sum(), max(), min(), argmin() or argmax()"),
        _ => throw Error(node, "unsupported expression"),
    };

    private SelectionException Error(Node at, string reason, string? column = null) => new(reason, text, at.Position, column);

    private Scope? Find(string name)
    {
        for (var s = _scope; s is not null; s = s.Outer)
        {
            if (s.Name == name)
            {
                NoteUse(s);
                return s;
            }
        }

        return null;
    }

    /// <summary>Choices being bound, each with the names in force outside it: using one of those makes it depend on more than the event.</summary>
    private readonly List<(Scope? Outside, bool Free)> _choices = [];

    private void NoteUse(Scope used)
    {
        for (var i = 0; i < _choices.Count; i++)
        {
            for (var s = _choices[i].Outside; s is not null; s = s.Outer)
            {
                if (s == used)
                {
                    _choices[i] = (_choices[i].Outside, true);
                    break;
                }
            }
        }
    }

    private bool IsEventVector(string name) =>
        catalog.Columns.TryGetValue(name + "_pt", out var pt) && !pt.IsList && catalog.Columns.TryGetValue(name + "_phi", out var phi) && !phi.IsList;

    private bool Resolves(string name) => Find(name) is not null || catalog.Columns.ContainsKey(name) || IsEventVector(name);

    private Bound BindName(ColumnNode node)
    {
        if (Find(node.Name) is { } scope)
        {
            return scope.Variable is { } variable ? new VariableBound(variable, null) : new LetReferenceBound(scope.Let!);
        }

        if (!catalog.Columns.TryGetValue(node.Name, out var info))
        {
            if (IsEventVector(node.Name))
            {
                return new EventVectorBound(node.Name);
            }

            throw Error(node, $"unknown column '{node.Name}'{Suggest(node.Name)}", node.Name);
        }

        if (!info.IsList)
        {
            catalog.Used.Add(info.Name);
            return new EventColumnBound(info);
        }

        if (_comprehensions > 0)
        {
            var variable = InnermostVariable();
            throw Error(node, $"inside a comprehension, per-object columns are read through its variables ({variable}.{FieldOf(info)})", node.Name);
        }

        var collection = catalog.Collection(info.Collection)!;
        var stream = catalog.StreamOf(collection);
        catalog.Used.Add(info.Name);
        return new FieldBound(new VariableBound(stream.Variable, stream), FieldOf(info), [info], stream);
    }

    private string InnermostVariable()
    {
        for (var s = _scope; s is not null; s = s.Outer)
        {
            if (s.Variable is not null)
            {
                return s.Name;
            }
        }

        return "x";
    }

    private static string FieldOf(ColumnInfo info) => info.Name.Length > info.Collection.Length + 1 ? info.Name[(info.Collection.Length + 1)..] : info.Name;

    private string Suggest(string name)
    {
        var best = catalog.Columns.Keys
            .Select(k => (Name: k, Distance: Distance(name, k)))
            .Where(c => c.Distance <= Math.Max(2, name.Length / 4))
            .OrderBy(c => c.Distance).ThenBy(c => c.Name, StringComparer.Ordinal)
            .FirstOrDefault();
        return best.Name is null ? "" : $"; did you mean '{best.Name}'?";
    }

    private static int Distance(string a, string b)
    {
        if (Math.Abs(a.Length - b.Length) > 3)
        {
            return int.MaxValue;
        }

        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = char.ToUpperInvariant(a[i - 1]) == char.ToUpperInvariant(b[j - 1]) ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }

    /// <summary>The source an object value comes from.</summary>
    private static Source SourceOf(Bound bound) => bound switch
    {
        VariableBound v => v.Variable.Source,
        ChoiceObjectBound c => ChoiceSource(c.Choice),
        LetReferenceBound l => SourceOf(l.Slot.Value),
        LetBound l => SourceOf(l.Body),
        _ => throw new InvalidOperationException($"{bound.GetType().Name} is not an object"),
    };

    private static Source ChoiceSource(Bound choice) => choice switch
    {
        ReduceBound r => r.ChoiceSource!,
        LetReferenceBound l => ChoiceSource(l.Slot.Value),
        LetBound l => ChoiceSource(l.Body),
        _ => throw new InvalidOperationException($"{choice.GetType().Name} is not a choice"),
    };

    private static IReadOnlyList<Variable> ChoiceVariables(Bound choice) => choice switch
    {
        ReduceBound r => r.ChoiceVariables,
        LetReferenceBound l => ChoiceVariables(l.Slot.Value),
        LetBound l => ChoiceVariables(l.Body),
        _ => throw new InvalidOperationException($"{choice.GetType().Name} is not a choice"),
    };

    private Bound BindMember(MemberNode node)
    {
        if (node.Target is ColumnNode name && !Resolves(name.Name))
        {
            throw Error(name, $"'{name.Name}' is not a comprehension variable here; write the column, such as {name.Name}_{node.Field}");
        }

        var target = Bind(node.Target);
        switch (target.Kind)
        {
            case ValueKind.Object:
                return ObjectField(target, node.Field, node);
            case ValueKind.Choice:
            {
                var variables = ChoiceVariables(target);
                for (var i = 0; i < variables.Count; i++)
                {
                    if (variables[i].Name == node.Field)
                    {
                        return new ChoiceObjectBound(target, i);
                    }
                }

                if (variables.Count == 1)
                {
                    return ObjectField(new ChoiceObjectBound(target, 0), node.Field, node);
                }

                Kinematic? what = node.Field switch
                {
                    "pt" => Kinematic.Pt,
                    "mass" => Kinematic.Mass,
                    "eta" => Kinematic.Eta,
                    "phi" => Kinematic.Phi,
                    _ => null,
                };
                if (what is null)
                {
                    throw Error(node, $"a choice of {string.Join(", ", variables.Select(v => v.Name))} has the fields {string.Join(", ", variables.Select(v => v.Name))} (its objects) and pt, eta, phi, mass (of their sum), not '{node.Field}'");
                }

                return BindKinematicTerms(what.Value, [target], node);
            }

            case ValueKind.EventVector:
            {
                var prefix = ((EventVectorBound)target).Prefix;
                return BindName(new ColumnNode(prefix + "_" + node.Field, node.Position));
            }

            default:
                throw Error(node, $"only objects and choices have fields; this is {Describe(target)}");
        }
    }

    private static string Describe(Bound bound) => bound.Kind switch
    {
        ValueKind.Bool => "true/false",
        ValueKind.Number => "a number",
        ValueKind.Object => "an object",
        ValueKind.Choice => "a choice (argmin/argmax)",
        _ => "an event's four-vector",
    };

    private Bound ObjectField(Bound target, string field, Node at)
    {
        var source = SourceOf(target);
        if (field == "kind" && source.IsUnion)
        {
            return new KindBound(target);
        }

        var columns = new List<ColumnInfo>();
        foreach (var collection in source.Collections)
        {
            var name = collection.Name + "_" + field;
            if (!catalog.Columns.TryGetValue(name, out var info) || !info.IsList)
            {
                var shared = source.IsUnion ? $"; a union's objects have the fields all its collections have, and kind (the position of the collection in {source.Name})" : "";
                throw Error(at, $"{source.Name} objects have no field '{field}' (no per-object column {name}){Suggest(name)}{shared}", name);
            }

            if (columns.Count > 0 && columns[0].IsBool != info.IsBool)
            {
                throw Error(at, $"'{field}' is true/false in {columns[0].Collection} and a number in {info.Collection}: the union cannot hold both", name);
            }

            columns.Add(info);
            catalog.Used.Add(name);
        }

        return new FieldBound(target, field, columns, target.Stream);
    }

    private UnaryBound BindUnary(UnaryNode node)
    {
        var operand = Bind(node.Operand);
        return node.Operator == "!"
            ? new UnaryBound(Operator.Not, RequireBool(operand, node.Operand, "'!'"), ValueKind.Bool)
            : new UnaryBound(Operator.Negate, RequireNumber(operand, node.Operand, "'-'"), ValueKind.Number);
    }

    private Bound RequireBool(Bound bound, Node at, string what) =>
        bound.Kind == ValueKind.Bool ? bound : throw Error(at, $"{what} needs true/false values, but this is {Describe(bound)}{(bound.IsNumber ? " (compare it, e.g. x > 0)" : "")}");

    private Bound RequireNumber(Bound bound, Node at, string what) =>
        bound.Kind == ValueKind.Number ? bound : throw Error(at, $"{what} needs numbers, but this is {Describe(bound)}");

    private void Combine(Bound a, Bound b, Node at)
    {
        if (a.Stream is not null && b.Stream is not null && a.Stream != b.Stream)
        {
            throw Error(at, $"one side has {a.Stream.Describe()} and the other {b.Stream.Describe()}: they do not line up object by object");
        }
    }

    private Bound BindBinary(BinaryNode node)
    {
        var left = Bind(node.Left);
        var right = Bind(node.Right);
        Combine(left, right, node);
        switch (node.Operator)
        {
            case "&&" or "||":
                RequireBool(left, node.Left, $"'{node.Operator}'");
                RequireBool(right, node.Right, $"'{node.Operator}'");
                return new BinaryBound(node.Operator == "&&" ? Operator.And : Operator.Or, left, right, ValueKind.Bool);
            case "==" or "!=":
                if (left.Kind == ValueKind.Object && right.Kind == ValueKind.Object)
                {
                    return new SameObjectBound(left, right, node.Operator == "!=");
                }

                if (left.Kind != right.Kind || left.Kind is not (ValueKind.Number or ValueKind.Bool))
                {
                    throw Error(node, $"'{node.Operator}' compares {Describe(left)} with {Describe(right)}");
                }

                return new BinaryBound(node.Operator == "==" ? Operator.Equal : Operator.NotEqual, left, right, ValueKind.Bool);
            case "<" or "<=" or ">" or ">=":
                RequireNumber(left, node.Left, $"'{node.Operator}'");
                RequireNumber(right, node.Right, $"'{node.Operator}'");
                var compare = node.Operator switch
                {
                    "<" => Operator.Less,
                    "<=" => Operator.LessOrEqual,
                    ">" => Operator.Greater,
                    _ => Operator.GreaterOrEqual,
                };
                return new BinaryBound(compare, left, right, ValueKind.Bool);
            default:
                RequireNumber(left, node.Left, $"'{node.Operator}'");
                RequireNumber(right, node.Right, $"'{node.Operator}'");
                var arithmetic = node.Operator switch
                {
                    "+" => Operator.Add,
                    "-" => Operator.Subtract,
                    "*" => Operator.Multiply,
                    "/" => Operator.Divide,
                    "%" => Operator.Modulo,
                    _ => Operator.Power,
                };
                return new BinaryBound(arithmetic, left, right, ValueKind.Number);
        }
    }

    private static readonly Dictionary<string, Operator> MathFunctions = new(StringComparer.Ordinal)
    {
        ["abs"] = Operator.Abs,
        ["sqrt"] = Operator.Sqrt,
        ["sin"] = Operator.Sin,
        ["cos"] = Operator.Cos,
        ["tan"] = Operator.Tan,
        ["sinh"] = Operator.Sinh,
        ["cosh"] = Operator.Cosh,
        ["tanh"] = Operator.Tanh,
        ["exp"] = Operator.Exp,
        ["log"] = Operator.Log,
        ["log10"] = Operator.Log10,
        ["atan"] = Operator.Atan,
    };

    private static readonly Dictionary<string, Reduction> Reductions = new(StringComparer.Ordinal)
    {
        ["count"] = Reduction.Count,
        ["sum"] = Reduction.Sum,
        ["max"] = Reduction.Max,
        ["min"] = Reduction.Min,
        ["any"] = Reduction.Any,
        ["all"] = Reduction.All,
        ["argmin"] = Reduction.ArgMin,
        ["argmax"] = Reduction.ArgMax,
    };

    private static readonly Dictionary<string, Kinematic> Kinematics = new(StringComparer.Ordinal)
    {
        ["mass"] = Kinematic.Mass,
        ["pt"] = Kinematic.Pt,
        ["deltaR"] = Kinematic.DeltaR,
        ["mt"] = Kinematic.Mt,
    };

    /// <summary>Every function name, for the docs and for error messages.</summary>
    public static IEnumerable<string> FunctionNames =>
        MathFunctions.Keys.Concat(Reductions.Keys).Concat(Kinematics.Keys).Append("atan2").Order(StringComparer.Ordinal);

    private Bound BindCall(CallNode node)
    {
        var args = node.Arguments;
        if (MathFunctions.TryGetValue(node.Function, out var math))
        {
            Arity(node, 1);
            var operand = RequireNumber(Bind(args[0]), args[0], node.Function + "()");
            return new UnaryBound(math, operand, ValueKind.Number);
        }

        if (Reductions.TryGetValue(node.Function, out var reduction))
        {
            return BindReduction(node, reduction);
        }

        if (Kinematics.TryGetValue(node.Function, out var kinematic))
        {
            return BindKinematic(node, kinematic);
        }

        if (node.Function == "atan2")
        {
            Arity(node, 2);
            var y = RequireNumber(Bind(args[0]), args[0], "atan2()");
            var x = RequireNumber(Bind(args[1]), args[1], "atan2()");
            Combine(y, x, node);
            return new BinaryBound(Operator.Atan2, y, x, ValueKind.Number);
        }

        throw Error(node, $"unknown function '{node.Function}'; the functions are {string.Join(", ", FunctionNames)}");
    }

    private Bound BindReduction(CallNode node, Reduction reduction)
    {
        var args = node.Arguments;
        if (args.Count >= 2 && reduction is Reduction.Max or Reduction.Min)
        {
            // max(a, b, ...) / min(a, b, ...): element-wise, as in C.
            var values = new List<Bound>();
            foreach (var arg in args)
            {
                var value = RequireNumber(Bind(arg), arg, node.Function + "()");
                if (values.Count > 0)
                {
                    Combine(values[0], value, node);
                }

                values.Add(value);
            }

            return new ExtremumBound(reduction == Reduction.Max, values, values.Select(v => v.Stream).FirstOrDefault(s => s is not null));
        }

        Arity(node, 1);
        if (reduction is Reduction.ArgMin or Reduction.ArgMax)
        {
            if (args[0] is not ComprehensionNode choices)
            {
                throw Error(args[0], $"{node.Function}() chooses among the combinations of a comprehension, such as {node.Function}(a, b in Muon: abs(mass(a, b) - 91.2))");
            }

            _choices.Add((_scope, false));
            ComprehensionBound comprehension;
            bool free;
            try
            {
                comprehension = BindComprehension(choices);
            }
            finally
            {
                free = _choices[^1].Free;
                _choices.RemoveAt(_choices.Count - 1);
            }

            if (comprehension.Body is null || !comprehension.Body.IsNumber)
            {
                throw Error(args[0], $"{node.Function}() needs a number to {(reduction == Reduction.ArgMin ? "minimise" : "maximise")} after ':' ({node.Function}({string.Join(", ", choices.Variables)} in {choices.Source}: ...))");
            }

            // A choice that reads only the event (no outer variable or let) is made once per event, however many
            // columns (or the filter) ask for it: they share it by its canonical text.
            return new ReduceBound(reduction, comprehension) { EventKey = free ? null : CanonicalText.Of(node) };
        }

        var operand = args[0] is ComprehensionNode c ? BindComprehension(c) : Bind(args[0]);
        if (operand is not ComprehensionBound && operand.Stream is null)
        {
            throw Error(args[0], $"{node.Function}() reduces a collection (such as {node.Function}(Jet_pt > 40)), but this has one value per event");
        }

        if (operand.Kind is ValueKind.Object or ValueKind.Choice or ValueKind.EventVector)
        {
            throw Error(args[0], $"{node.Function}() reduces numbers or true/false values, but this is {Describe(operand)}");
        }

        if (reduction is Reduction.Any or Reduction.All)
        {
            RequireBool(operand, args[0], node.Function + "()");
        }
        else if (reduction is not Reduction.Count)
        {
            RequireNumber(operand, args[0], node.Function + "()");
        }

        return new ReduceBound(reduction, operand);
    }

    private void Arity(CallNode node, int count)
    {
        if (node.Arguments.Count != count)
        {
            throw Error(node, $"{node.Function}() takes {count} argument{(count == 1 ? "" : "s")}, not {node.Arguments.Count}");
        }
    }

    private KinematicBound BindKinematic(CallNode node, Kinematic what)
    {
        var sum = what is Kinematic.Mass or Kinematic.Pt;
        if (sum ? node.Arguments.Count == 0 : node.Arguments.Count != 2)
        {
            throw Error(node, sum ? $"{node.Function}() takes one object or more" : $"{node.Function}() takes 2 objects, not {node.Arguments.Count}");
        }

        var terms = new List<Bound>();
        foreach (var arg in node.Arguments)
        {
            if (arg is ColumnNode name && !Resolves(name.Name))
            {
                throw Error(arg, $"{node.Function}() works on the variables of a comprehension (such as any(a, b in Muon: {node.Function}(a, b) > 60)), on choices (argmin(...)) and on event four-vectors such as MET; '{name.Name}' is none of these");
            }

            var term = Bind(arg);
            if (term.Kind is not (ValueKind.Object or ValueKind.Choice or ValueKind.EventVector))
            {
                throw Error(arg, $"{node.Function}() takes objects (comprehension variables), choices (argmin(...)) or event four-vectors (MET), but this is {Describe(term)}");
            }

            terms.Add(term);
        }

        return BindKinematicTerms(what, terms, node);
    }

    /// <summary>Checks the columns a kinematic function needs and marks the collections whose four-vectors it sums.</summary>
    private KinematicBound BindKinematicTerms(Kinematic what, List<Bound> terms, Node at)
    {
        var name = what == Kinematic.DeltaR ? "deltaR" : what.ToString().ToLowerInvariant();
        var summing = what is Kinematic.Mass or Kinematic.Pt or Kinematic.Eta or Kinematic.Phi;
        foreach (var term in terms)
        {
            var objects = term.Kind switch
            {
                ValueKind.Choice => ChoiceVariables(term).Count,
                ValueKind.Object => 1,
                _ => 0,
            };
            var single = objects == 1 && (!summing || terms.Count == 1);
            string[] needed = what switch
            {
                _ when objects > 1 || (summing && !single) => ["pt", "eta", "phi", "mass"],
                Kinematic.Mt => ["pt", "phi"],
                Kinematic.DeltaR => ["eta", "phi"],
                _ => [what.ToString().ToLowerInvariant()],
            };
            if (term is EventVectorBound vector)
            {
                needed = what switch
                {
                    Kinematic.Mass or Kinematic.Eta => ["pt", "eta", "phi", "mass"],
                    Kinematic.DeltaR => ["eta", "phi"],
                    _ => ["pt", "phi"],
                };
                foreach (var field in needed)
                {
                    Need(vector.Prefix + "_" + field, list: false);
                }

                continue;
            }

            var source = term.Kind == ValueKind.Choice ? ChoiceSource(term) : SourceOf(term);
            foreach (var collection in source.Collections)
            {
                foreach (var field in needed)
                {
                    Need(collection.Name + "_" + field, list: true);
                }

                if (needed.Length == 4)
                {
                    catalog.FourVectors.Add(collection);
                }
            }
        }

        return new KinematicBound(what, terms, null);

        void Need(string column, bool list)
        {
            if (!catalog.Columns.TryGetValue(column, out var info) || info.IsList != list || info.IsBool)
            {
                throw Error(at, $"{name}() needs the column {column}, which the dataset does not have", column);
            }

            catalog.Used.Add(column);
        }
    }

    private ComprehensionBound BindComprehension(ComprehensionNode node)
    {
        var collections = new List<Collection>();
        foreach (var name in node.Sources)
        {
            var collection = catalog.Collection(name)
                ?? throw Error(node, $"unknown collection '{name}' (no per-object column {name}_...){Suggest(name + "_pt") switch { "" => "", var s => s }}", name);
            collections.Add(collection);
        }

        var source = new Source(collections);
        var outer = _scope;
        var variables = new List<Variable>();
        foreach (var name in node.Variables)
        {
            if (Find(name) is not null || catalog.Columns.ContainsKey(name))
            {
                throw Error(node, $"the variable '{name}' hides {(Find(name) is not null ? "a name already in use" : "a column")}; choose another name");
            }

            var variable = new Variable(name, source);
            variables.Add(variable);
            _scope = new Scope(name, variable, null, _scope);
        }

        _comprehensions++;
        try
        {
            var where = node.Where is null ? null : RequireBool(Bind(node.Where), node.Where, "'where'");
            var body = node.Body is null ? null : Bind(node.Body);
            if (body is not null && body.Kind is not (ValueKind.Number or ValueKind.Bool))
            {
                throw Error(node.Body!, $"a comprehension's expression is a number or true/false, but this is {Describe(body)}");
            }

            return new ComprehensionBound(variables, source, where, body);
        }
        finally
        {
            _comprehensions--;
            _scope = outer;
        }
    }

    private Bound BindIndex(IndexNode node)
    {
        var target = Bind(node.Target);
        if (target.Stream is null || target.Kind is not (ValueKind.Number or ValueKind.Bool))
        {
            throw Error(node, $"only per-object values can be masked or indexed; this has {target.DescribeShape()}");
        }

        if (node.Index is NumberNode { IsInteger: true } n && Math.Abs(n.Value) < int.MaxValue)
        {
            return new ElementBound(target, (int)n.Value);
        }

        var mask = Bind(node.Index);
        if (mask.Kind != ValueKind.Bool)
        {
            throw Error(node.Index, "a mask is a per-object true/false (Jet_pt > 40); an index is a whole number (Jet_pt[0])");
        }

        if (mask.Stream is not null && mask.Stream != target.Stream)
        {
            throw Error(node.Index, $"the mask has {mask.Stream.Describe()}, the values {target.Stream.Describe()}");
        }

        return new MaskBound(target, mask, new Stream(target.Stream.Variable, [.. target.Stream.Filters, mask]));
    }

    private LetBound BindLet(LetNode node)
    {
        if (Resolves(node.Name))
        {
            throw Error(node, $"'{node.Name}' is already a {(Find(node.Name) is not null ? "name in use" : "column")}; let needs a new name");
        }

        var value = Bind(node.Value);
        if (value.Stream is not null || value.Kind == ValueKind.EventVector)
        {
            throw Error(node.Value, $"let names one value (a number, true/false, an object or a choice), but this has {value.DescribeShape()}; reduce it first (count, sum, max, ...)");
        }

        var slot = new LetSlot(node.Name, value);
        var outer = _scope;
        _scope = new Scope(node.Name, null, slot, _scope);
        try
        {
            var body = Bind(node.Body);
            if (body.Stream is not null)
            {
                throw Error(node.Body, $"a let's expression (after 'in') is one value per event, but this has {body.Stream.Describe()}; put the let inside the mask or the reduction (Muon_pt[let x = 20 in Muon_pt > x])");
            }

            if (body.Kind is not (ValueKind.Number or ValueKind.Bool))
            {
                throw Error(node.Body, $"a let's expression (after 'in') is a number or true/false, but this is {Describe(body)}");
            }

            return new LetBound(slot, body);
        }
        finally
        {
            _scope = outer;
        }
    }

    private MembershipBound BindMembership(MembershipNode node)
    {
        var item = Bind(node.Item);
        var choice = Bind(node.Choice);
        if (item.Kind != ValueKind.Object || choice.Kind != ValueKind.Choice)
        {
            throw Error(node, $"'{(node.Negated ? "not in" : "in")}' asks whether an object is one of a choice's objects (l not in z, z = argmin(...)); here it has {Describe(item)} and {Describe(choice)}");
        }

        return new MembershipBound(item, choice, node.Negated);
    }
}
