namespace Shoppe.Columnar.Tests.Selection.Differential;

/// <summary>A comprehension's variable and its source (one collection, or a union such as Electron + Muon).</summary>
internal sealed record Variable(string Name, IReadOnlyList<string> Sources);

/// <summary>Where the generator is: the place of the value it makes, its collection, and the comprehensions' variables.</summary>
/// <param name="Place">Where the value lives.</param>
/// <param name="Collection">The collection of per-object values.</param>
/// <param name="Variables">The variables in force (of the comprehensions around, innermost last).</param>
/// <param name="Pure">Inside a comprehension: per-event values are only per-event columns and constants (per-object
/// columns are read through the variables), and comprehensions do not nest (new syntax: they may).</param>
/// <param name="Nesting">How many comprehensions are around.</param>
internal sealed record At(Place Place, string? Collection = null, IReadOnlyList<Variable>? Variables = null, bool Pure = false, int Nesting = 0)
{
    public static readonly At Event = new(Place.Event);
}

/// <summary>
/// Random, well-typed selections of the language as the current engine runs it (docs/selection-language.md):
/// numbers and booleans kept apart; per-event values, per-object values of one collection (per-event values
/// repeating for each object), lists after a mask (combining only with per-event values), and comprehensions over
/// each object or pair of a collection. Every tree the generator makes should compile; one that does not is
/// counted by the tests. With <see cref="NewSyntax"/>, also the additions of docs/selection-language.md
/// (issue 16): unions, where-conditions, three and four variables, nested comprehensions, argmin/argmax and the
/// fields of their choice, max/min of more than two, mt with MET, object identity.
/// </summary>
internal sealed class SelectionGenerator(Random random)
{
    private static readonly string[] EventNumbers = ["MET_pt", "MET_phi", "MET_sumEt", "nJet", "nMuon", "nElectron", "PV_npvs", "run", "luminosityBlock"];

    /// <summary>Per collection, its number fields (float and integer columns) and its boolean fields.</summary>
    private static readonly Dictionary<string, (string[] Numbers, string[] Bools)> Collections = new(StringComparer.Ordinal)
    {
        ["Jet"] = (["pt", "eta", "phi", "mass", "btagDeepB", "jetId", "nConstituents", "puId"], []),
        ["Muon"] = (["pt", "eta", "phi", "mass", "charge", "pfRelIso04_all", "dxy", "nStations"], ["tightId", "looseId", "isGlobal", "isPFcand"]),
        ["Electron"] = (["pt", "eta", "phi", "mass", "charge", "cutBased", "pfRelIso03_all", "dxy"], ["convVeto", "isPFcand"]),
    };

    /// <summary>Typical values of fields and columns (low, high, step), so that a comparison with a constant splits
    /// the events rather than holding for all or none.</summary>
    private static readonly Dictionary<string, (double Low, double High, double Step)> Ranges = new(StringComparer.Ordinal)
    {
        ["pt"] = (0, 120, 0.25),
        ["eta"] = (-3, 3, 0.125),
        ["phi"] = (-3.25, 3.25, 0.125),
        ["mass"] = (0, 40, 0.25),
        ["charge"] = (-1, 1, 1),
        ["btagDeepB"] = (0, 1, 0.0625),
        ["pfRelIso04_all"] = (0, 0.5, 0.03125),
        ["pfRelIso03_all"] = (0, 0.5, 0.03125),
        ["dxy"] = (-0.03125, 0.03125, 0.0078125),
        ["jetId"] = (0, 7, 1),
        ["puId"] = (0, 7, 1),
        ["cutBased"] = (0, 4, 1),
        ["nStations"] = (0, 4, 1),
        ["nConstituents"] = (0, 40, 1),
        ["MET_pt"] = (0, 80, 0.25),
        ["MET_phi"] = (-3.25, 3.25, 0.125),
        ["MET_sumEt"] = (100, 1500, 1),
        ["nJet"] = (0, 10, 1),
        ["nMuon"] = (0, 4, 1),
        ["nElectron"] = (0, 3, 1),
        ["PV_npvs"] = (0, 60, 1),
        ["mass()"] = (0, 150, 0.25),
        ["pt()"] = (0, 150, 0.25),
        ["deltaR()"] = (0, 5, 0.125),
    };

    private static readonly string[] CollectionNames = ["Jet", "Muon", "Electron"];

    /// <summary>Every column a generated selection may read.</summary>
    public static IEnumerable<string> ColumnNames =>
        EventNumbers.Append("HLT_IsoMu24").Concat(Collections.SelectMany(c => c.Value.Numbers.Concat(c.Value.Bools).Select(f => $"{c.Key}_{f}")));

    private static readonly string[] Arithmetic = ["+", "-", "*"];

    private static readonly string[] Comparisons = ["<", "<=", ">", ">=", "==", "!="];

    private static readonly string[] Functions = ["abs", "abs", "-", "-", "sqrt", "sqrt", "log", "sin", "cos", "tan", "sinh", "cosh", "tanh", "exp", "log", "log10", "atan", "sq"];

    private static readonly int[] Positions = [0, 0, 1, 2, -1, -2];

    /// <summary>Generate the additions of docs/selection-language.md (issue 16) too.</summary>
    public bool NewSyntax { get; init; }

    /// <summary>Generate <c>X[k]</c> of booleans (off while the engine gives NaN, taken as true, where there is none).</summary>
    public bool BooleanElements { get; init; }

    public RandomQuery Query()
    {
        var filter = random.Next(10) < 7 ? Bool(At.Event, 4) : null;
        var columns = new List<Tree>();
        for (var n = random.Next(1, 4); n > 0; n--)
        {
            columns.Add(OutputColumn());
        }

        return new RandomQuery(filter, columns);
    }

    private Tree OutputColumn()
    {
        while (true)
        {
            var collection = AnyCollection();
            Tree tree = random.Next(9) switch
            {
                0 => Number(At.Event, 3),
                1 => Bool(At.Event, 3),
                2 => random.Next(2) == 0 ? new Reduce("count", Value(Objects(collection), 2)) : Comprehension(random.Next(2) == 0 ? "count" : "sum", 2),
                3 => Number(Objects(collection), 3),
                4 => Bool(Objects(collection), 3),
                5 => Number(new At(Place.List), 3),
                6 => Bool(new At(Place.List), 3),
                7 => random.Next(2) == 0 ? NumberColumn() : AnyColumn(collection),
                _ => new Mask(AnyColumn(collection), Keep(Objects(collection), 2)),
            };
            if (tree is not (Constant or Truth))
            {
                return tree;
            }
        }
    }

    private static At Objects(string collection) => new(Place.Objects, collection);

    private string AnyCollection() => CollectionNames[random.Next(CollectionNames.Length)];

    private T Pick<T>(IReadOnlyList<T> items) => items[random.Next(items.Count)];

    private bool Chance(int percent) => random.Next(100) < percent;

    private Tree Value(At at, int depth) => Chance(50) ? Number(at, depth) : Bool(at, depth);

    private Column AnyColumn(string collection)
    {
        var (numbers, bools) = Collections[collection];
        return bools.Length > 0 && Chance(25) ? new Column($"{collection}_{Pick(bools)}", Kind.Bool, collection) : new Column($"{collection}_{Pick(numbers)}", Kind.Number, collection);
    }

    private Constant RandomConstant() => new(Chance(30) ? random.Next(0, 6) : random.Next(-200, 601) / 4.0);

    /// <summary>A comparison of two numbers, a constant on either side tuned to the other's values.</summary>
    private Binary Compare(Tree left, Tree right) => new(Pick(Comparisons), Tuned(left, right), Tuned(right, left));

    /// <summary>A constant compared with a column, a field or a kinematic function: one of its typical values.</summary>
    private Tree Tuned(Tree tree, Tree other)
    {
        var name = other switch
        {
            Column c => c.Collection is null ? c.Name : c.Name[(c.Collection.Length + 1)..],
            Field f => f.Name,
            Kinematic k => k.Function + "()",
            _ => null,
        };
        if (tree is not Constant || name is null || !Ranges.TryGetValue(name, out var range))
        {
            return tree;
        }

        var steps = (int)((range.High - range.Low) / range.Step);
        return new Constant(range.Low + (random.Next(steps + 1) * range.Step));
    }

    /// <summary>A mask for values at <paramref name="at"/>: per object of their collection, or per event (all or none).</summary>
    private Tree Keep(At at, int depth) => at.Place == Place.Objects && Chance(80) ? Bool(at, depth) : Chance(10) ? new Truth(Chance(50)) : Bool(At.Event, Math.Min(depth, 2));

    /// <summary>Two operands for an operation at <paramref name="at"/>: where values are per object (or per combination)
    /// at least one is, the other may be per event; a list goes with a per-event value.</summary>
    private (Tree Left, Tree Right) Operands(At at, int depth, Func<At, int, Tree> make)
    {
        if (at.Place == Place.Event)
        {
            return (make(at, depth), make(at, depth));
        }

        var side = EventSide(at);
        return random.Next(at.Place == Place.List ? 2 : 4) switch
        {
            0 => (make(at, depth), make(side, depth)),
            1 => (make(side, depth), make(at, depth)),
            _ => (make(at, depth), make(at, depth)),
        };
    }

    private static At EventSide(At at) => at.Place == Place.Combination || at.Pure ? new At(Place.Event, Variables: at.Variables, Pure: true, Nesting: at.Nesting) : At.Event;

    public Tree Number(At at, int depth)
    {
        if (depth <= 0 || Chance(20))
        {
            return NumberLeaf(at);
        }

        var next = depth - 1;
        if (at.Place == Place.List && Chance(40))
        {
            return MaskOf(Kind.Number, depth);
        }

        if (NewSyntax && Chance(15))
        {
            return NewNumber(at, next);
        }

        switch (random.Next(at.Place == Place.Event && !at.Pure ? 12 : 6))
        {
            case 0 or 1:
            {
                var (l, r) = Operands(at, next, Number);
                return new Binary(Pick(Arithmetic), l, r);
            }

            case 2:
                return new Unary(Pick(Functions), Number(at, next));
            case 3:
            {
                var (l, r) = Operands(at, next, Number);
                return new Binary(Pick(["max", "min", "atan2"]), l, r);
            }

            case 4:
            {
                // Division and remainder by abs(b) + 1: never by zero (DuckDB and IEEE differ there) nor by -0.
                var (l, r) = Operands(at, next, Number);
                return new Binary(Chance(50) ? "/" : "%", l, new Binary("+", new Unary("abs", r), new Constant(1)));
            }

            case 5:
                return NumberLeaf(at);
            case 6 or 7:
            {
                var source = Chance(70) ? Objects(AnyCollection()) : new At(Place.List);
                return new Reduce(Pick(["count", "sum", "max", "min"]), Number(source, next));
            }

            case 8:
                return new Element(Number(Chance(70) ? Objects(AnyCollection()) : new At(Place.List), next), Pick(Positions));
            case 9 or 10:
                return Comprehension(Pick(["count", "sum", "max", "min"]), next);
            default:
                return new Reduce("count", Bool(Chance(70) ? Objects(AnyCollection()) : new At(Place.List), next));
        }
    }

    private Tree NumberLeaf(At at) => at.Place switch
    {
        // Per event, the values that carry NaN (no such object, the max of nothing) come as often as plain columns.
        Place.Event when !at.Pure && Chance(40) => Chance(50)
            ? new Element(ObjectColumn(AnyCollection()), Pick(Positions))
            : new Reduce(Pick(["count", "sum", "max", "min"]), ObjectColumn(AnyCollection())),
        Place.Event => Chance(40) ? RandomConstant() : NumberColumn(),
        Place.Objects => ObjectColumn(at.Collection!),
        Place.List => MaskOf(Kind.Number, 0),
        _ => random.Next(5) switch
        {
            0 => RandomConstant(),
            1 or 2 => Kinematic(at),
            _ => FieldOf(at, Kind.Number)!,
        },
    };

    /// <summary>A field of one of the variables in force (new syntax: of the comprehensions around too); null when it has none of that kind.</summary>
    private Field? FieldOf(At at, Kind kind)
    {
        var variable = NewSyntax ? Pick(at.Variables!) : Pick(at.Variables!.Where(v => v.Sources.SequenceEqual(at.Variables![^1].Sources)).ToArray());
        var (numbers, bools) = FieldsOf(variable.Sources);
        var fields = kind == Kind.Number ? numbers : bools;
        return fields.Length == 0 ? null : new Field(variable.Name, Pick(fields), kind);
    }

    /// <summary>The fields of a source: a collection's, or those every collection of a union has, and <c>kind</c>.</summary>
    private static (string[] Numbers, string[] Bools) FieldsOf(IReadOnlyList<string> sources) =>
        sources.Count == 1 ? Collections[sources[0]] : (["pt", "eta", "phi", "mass", "charge", "dxy", "kind"], ["isPFcand"]);

    private Column ObjectColumn(string collection) => new($"{collection}_{Pick(Collections[collection].Numbers)}", Kind.Number, collection);

    private Column NumberColumn() => new(Pick(EventNumbers), Kind.Number, null);

    public Tree Bool(At at, int depth)
    {
        if (depth <= 0 || Chance(15))
        {
            return BoolLeaf(at, depth);
        }

        var next = depth - 1;
        if (at.Place == Place.List && Chance(30))
        {
            return MaskOf(Kind.Bool, depth);
        }

        if (NewSyntax && at.Pure && at.Nesting < 2 && Chance(20))
        {
            return Comprehension(Chance(50) ? "any" : "all", next, at); // nested, reading the variables around
        }

        switch (random.Next(at.Place == Place.Event && !at.Pure ? 12 : 7))
        {
            case 0 or 1 or 2:
            {
                var (l, r) = Operands(at, next, Number);
                return Compare(l, r);
            }

            case 3:
            {
                // a < b < c, one of the three where the values live (a list combines with itself only through the chain).
                Tree[] parts = [Number(EventSide(at), next), Number(EventSide(at), next), Number(EventSide(at), next)];
                parts[random.Next(3)] = Number(at, next);
                if (at.Place is Place.Objects or Place.Combination && Chance(50))
                {
                    parts[random.Next(3)] = Number(at, next);
                }

                return new Chain(Tuned(parts[0], parts[1]), Pick(Comparisons), parts[1], Pick(Comparisons), Tuned(parts[2], parts[1]));
            }

            case 4:
            {
                var (l, r) = Operands(at, next, Bool);
                return new Binary(Chance(50) ? "&&" : "||", l, r);
            }

            case 5:
                return new Unary("!", Bool(at, next));
            case 6:
            {
                var (l, r) = Operands(at, next, Bool);
                return new Binary(Chance(50) ? "==" : "!=", l, r);
            }

            case 7 or 8:
                return new Reduce(Chance(50) ? "any" : "all", Bool(Chance(70) ? Objects(AnyCollection()) : new At(Place.List), next));
            case 9 or 10:
                return Comprehension(Chance(50) ? "any" : "all", next);
            default:
                return BooleanElements
                    ? new Element(Bool(Chance(70) ? Objects(AnyCollection()) : new At(Place.List), next), Pick(Positions))
                    : Compare(Number(at, next), Number(at, next));
        }
    }

    private Tree BoolLeaf(At at, int depth)
    {
        switch (at.Place)
        {
            case Place.Event:
                return random.Next(5) switch
                {
                    0 => new Truth(Chance(50)),
                    1 => new Column("HLT_IsoMu24", Kind.Bool, null),
                    _ => Compare(NumberLeaf(at), NumberLeaf(at)),
                };
            case Place.Objects:
            {
                var bools = Collections[at.Collection!].Bools;
                return bools.Length > 0 && Chance(40)
                    ? new Column($"{at.Collection}_{Pick(bools)}", Kind.Bool, at.Collection)
                    : Compare(NumberLeaf(at), Chance(70) ? RandomConstant() : NumberLeaf(At.Event));
            }

            case Place.List:
                return MaskOf(Kind.Bool, Math.Min(depth, 1));
            default:
                return (Chance(30) ? FieldOf(at, Kind.Bool) : null) ?? (Tree)Compare(NumberLeaf(at), RandomConstant());
        }
    }

    /// <summary>A list: <c>X[mask]</c> of per-object values of a collection, or a list masked again by a per-event condition.</summary>
    private Mask MaskOf(Kind kind, int depth)
    {
        if (depth > 1 && Chance(20))
        {
            return new Mask(kind == Kind.Number ? Number(new At(Place.List), depth - 1) : Bool(new At(Place.List), depth - 1), Keep(At.Event, depth - 1));
        }

        var collection = AnyCollection();
        var at = Objects(collection);
        var target = depth <= 1 || Chance(50)
            ? (kind == Kind.Number ? NumberLeaf(at) : BoolLeaf(at, 0))
            : (kind == Kind.Number ? Number(at, depth - 1) : Bool(at, depth - 1));
        return new Mask(target, Keep(at, Math.Max(depth - 1, 1)));
    }

    /// <summary>
    /// <c>f(m in C: body)</c> or <c>f(a, b in C: body)</c>, the body a boolean for any/all (and some counts), a number
    /// otherwise. New syntax: one to four variables, Electron + Muon, a where-condition, no body, and inside another
    /// comprehension (<paramref name="around"/>), whose variables the body reads.
    /// </summary>
    private Comprehension Comprehension(string function, int depth, At? around = null)
    {
        var outer = around?.Variables ?? [];
        var sources = NewSyntax && Chance(35) ? (Chance(85) ? ["Electron", "Muon"] : new[] { "Muon", "Electron" }) : [AnyCollection()];
        var count = !NewSyntax ? (Chance(50) ? 2 : 1) : random.Next(20) switch { < 8 => 1, < 15 => 2, < 19 => 3, _ => 4 };
        var free = Names.Where(n => outer.All(v => v.Name != n)).ToArray();
        var start = random.Next(free.Length - count + 1);
        var variables = free[start..(start + count)].Select(n => new Variable(n, sources)).ToArray();
        var at = new At(Place.Combination, Variables: [.. outer, .. variables], Pure: true, Nesting: (around?.Nesting ?? 0) + 1);
        var where = NewSyntax && Chance(40) ? Where(at, variables, outer) : null;
        var body = NewSyntax && function is "count" or "any" && Chance(25) ? null
            : function is "any" or "all" || (function == "count" && Chance(70)) ? Bool(at, Math.Max(depth, 1))
            : Chance(30) ? Kinematic(at) // the kinematics themselves, not only as they compare
            : Number(at, Math.Max(depth, 1));
        return new Comprehension(function, [.. variables.Select(v => v.Name)], sources, where, body);
    }

    private static readonly string[] Names = ["a", "b", "c", "d", "j", "k", "l", "m", "o", "p", "q", "x", "y", "z"];

    /// <summary>A where-condition: on the new variables' fields, or an object that is not one of the comprehension around.</summary>
    private Tree Where(At at, Variable[] variables, IReadOnlyList<Variable> outer)
    {
        var same = outer.Where(o => o.Sources.SequenceEqual(variables[0].Sources)).ToArray();
        if (same.Length > 0 && Chance(30))
        {
            return new Identity(Pick(variables).Name, Pick(same).Name, Same: false);
        }

        if (variables[0].Sources.Count > 1 && variables.Length > 1 && Chance(40))
        {
            // Same-flavour, opposite-charge, as ADL query 8 writes it.
            return new Binary("&&", new Binary("==", new Field(variables[0].Name, "kind", Kind.Number), new Field(variables[1].Name, "kind", Kind.Number)),
                new Binary("!=", new Field(variables[0].Name, "charge", Kind.Number), new Field(variables[1].Name, "charge", Kind.Number)));
        }

        var field = new Field(Pick(variables).Name, "pt", Kind.Number);
        return Chance(60) ? Compare(field, RandomConstant()) : Bool(at, 1);
    }

    private Kinematic Kinematic(At at)
    {
        if (NewSyntax)
        {
            var names = at.Variables!.Select(v => v.Name).ToArray();
            return random.Next(10) switch
            {
                < 4 => new Kinematic(Chance(60) ? "mass" : "pt", [.. names.OrderBy(_ => random.Next()).Take(random.Next(1, Math.Min(names.Length, 4) + 1))]),
                < 7 => new Kinematic("deltaR", [Pick(names), Pick(names)]),
                _ => new Kinematic("mt", [Pick(names), Chance(60) ? "MET" : Pick(names)]),
            };
        }

        var v = at.Variables!.Select(v => v.Name).ToArray();
        if (v.Length == 1)
        {
            return Chance(15) ? new Kinematic("mass", [v[0], v[0]]) : new Kinematic(Chance(50) ? "mass" : "pt", [v[0]]);
        }

        return random.Next(6) switch
        {
            0 or 1 => new Kinematic("mass", Chance(70) ? [v[0], v[1]] : [v[1], v[0]]),
            2 => new Kinematic("pt", [v[0], v[1]]),
            3 or 4 => new Kinematic("deltaR", Chance(70) ? [v[0], v[1]] : [v[1], v[0]]),
            _ => new Kinematic(Chance(50) ? "mass" : "pt", [Pick(v)]),
        };
    }

    /// <summary>New syntax for a number: argmin/argmax and a field of the choice, max/min of three or more, a nested comprehension.</summary>
    private Tree NewNumber(At at, int depth)
    {
        if (at.Pure)
        {
            return at.Nesting < 2 && Chance(60) ? Comprehension(Pick(["count", "sum", "max", "min"]), depth, at) : Extremum(at, depth);
        }

        if (at.Place != Place.Event || Chance(25))
        {
            return Extremum(at, depth);
        }

        var function = Chance(50) ? "argmin" : "argmax";
        var over = Comprehension("sum", Math.Max(depth, 1)) with { Function = function };
        if (over.Body is null || over.Body.Kind != Kind.Number)
        {
            over = over with { Body = Number(new At(Place.Combination, Variables: [.. over.Variables.Select(v => new Variable(v, over.Sources))], Pure: true, Nesting: 1), 1) };
        }

        // A choice of one object reads its fields; of several, the four-vector sum's (a choice of one object's
        // .mass is left out: the spec does not say whether it is the column or the four-vector's).
        return random.Next(3) switch
        {
            0 => new Choice(function, over, Pick(over.Variables), Pick(FieldsOf(over.Sources).Numbers)),
            _ when over.Variables.Count == 1 => new Choice(function, over, null, Pick(FieldsOf(over.Sources).Numbers.Where(f => f != "mass").ToArray())),
            _ => new Choice(function, over, null, Pick(["pt", "eta", "phi", "mass"])),
        };
    }

    private Extremum Extremum(At at, int depth)
    {
        var arguments = new List<Tree>();
        for (var n = random.Next(3, 5); n > 0; n--)
        {
            arguments.Add(Number(n == 1 || at.Place == Place.Event ? at : EventSide(at), depth));
        }

        return new Extremum(Chance(50) ? "max" : "min", arguments);
    }
}
