using System.Linq.Expressions;
using static System.Linq.Expressions.Expression;

namespace Shoppe.Columnar.Selection;

#pragma warning disable CA1859 // expression trees compose as Expression; narrower return types buy nothing here

/// <summary>The kernel's kinematics: four-vector sums of objects, choices and event vectors; deltaR and mt.</summary>
internal sealed partial class KernelCompiler
{
    /// <summary>One object (or an event's own vector, <see cref="Prefix"/>) in a kinematic function.</summary>
    private sealed record Atom(ObjectRef? Object, string? Prefix);

    private Expression Kinematics(KinematicBound k) => Using(() =>
    {
        var terms = k.Terms.Select(Atoms).ToArray();
        var valid = terms.SelectMany(t => t).Select(a => a.Object?.Valid).Where(v => v is not null).Distinct().Aggregate((Expression?)null, (all, v) => all is null ? v : AndAlso(all, v!));
        Expression value;
        switch (k.What)
        {
            case Kinematic.DeltaR:
            {
                var (eta1, phi1) = EtaPhi(terms[0]);
                var (eta2, phi2) = EtaPhi(terms[1]);
                // Δφ wrapped to [-π, π]: the IEEE remainder by 2π, as x - 2π·round(x / 2π) (one instruction
                // to round; Math.IEEERemainder is a library call, and the same value for differences of angles).
                var difference = Variable(typeof(double), "dphi");
                var dphi = Block(
                    typeof(double),
                    [difference],
                    Assign(difference, Subtract(phi1, phi2)),
                    Subtract(difference, Multiply(Constant(2 * Math.PI), Call(typeof(Math), nameof(Math.Round), null, Divide(difference, Constant(2 * Math.PI))))));
                var deta = Subtract(eta1, eta2);
                value = Hypot(deta, dphi);
                break;
            }

            case Kinematic.Mt:
            {
                var (pt1, phi1) = PtPhi(terms[0]);
                var (pt2, phi2) = PtPhi(terms[1]);
                var cos = Call(typeof(Math), nameof(Math.Cos), null, Subtract(phi1, phi2));
                value = Call(typeof(Math), nameof(Math.Sqrt), null, Multiply(Multiply(Multiply(Constant(2.0), pt1), pt2), Subtract(Constant(1.0), cos)));
                break;
            }

            default:
            {
                var atoms = terms.SelectMany(t => t).ToArray();
                if (atoms.Length == 1)
                {
                    value = Widen(AtomField(atoms[0], k.What.ToString().ToLowerInvariant()));
                    break;
                }

                value = Sum(atoms, k.What);
                break;
            }
        }

        return valid is null ? value : Condition(valid, value, Constant(double.NaN));
    });

    private IReadOnlyList<Atom> Atoms(Bound term) => term switch
    {
        EventVectorBound v => [new Atom(null, v.Prefix)],
        { Kind: ValueKind.Choice } => Choice(term) is var c ? c.Positions.Select(p => new Atom(new ObjectRef(c.Source, p, c.Found), null)).ToArray() : [],
        _ => [new Atom(Object(term), null)],
    };

    private Expression AtomField(Atom atom, string field)
    {
        if (atom.Prefix is not null)
        {
            return ArrayIndex(Column(atom.Prefix + "_" + field), _event);
        }

        var obj = atom.Object! with { Valid = null }; // validity is checked once for the whole value
        return FieldValue(obj, obj.Source.Collections.Select(c => _catalog.Columns[c.Name + "_" + field]).ToArray());
    }

    private (Expression Eta, Expression Phi) EtaPhi(IReadOnlyList<Atom> atoms)
    {
        if (atoms.Count == 1)
        {
            return (Widen(AtomField(atoms[0], "eta")), Widen(AtomField(atoms[0], "phi")));
        }

        return (Sum(atoms, Kinematic.Eta), Sum(atoms, Kinematic.Phi));
    }

    private (Expression Pt, Expression Phi) PtPhi(IReadOnlyList<Atom> atoms)
    {
        if (atoms.Count == 1)
        {
            return (Widen(AtomField(atoms[0], "pt")), Widen(AtomField(atoms[0], "phi")));
        }

        return (Sum(atoms, Kinematic.Pt), Sum(atoms, Kinematic.Phi));
    }

    private static Expression Hypot(Expression x, Expression y)
    {
        var a = Variable(typeof(double), "x");
        var b = Variable(typeof(double), "y");
        return Block(typeof(double), [a, b], Assign(a, x), Assign(b, y), Call(typeof(Math), nameof(Math.Sqrt), null, Add(Multiply(a, a), Multiply(b, b))));
    }

    /// <summary>A property of the four-vector sum of the atoms: objects from the batch's four-vectors, an event's vector from its columns.</summary>
    private Expression Sum(IReadOnlyList<Atom> atoms, Kinematic what)
    {
        var x = Variable(typeof(double), "px");
        var y = Variable(typeof(double), "py");
        var z = Variable(typeof(double), "pz");
        var e = Variable(typeof(double), "energy");
        var sums = new List<Expression> { Assign(x, Constant(0.0)), Assign(y, Constant(0.0)), Assign(z, Constant(0.0)), Assign(e, Constant(0.0)) };
        var components = new[] { x, y, z, e };
        if (_nests.Count > 0 && _nests.Peek() is var nest && atoms.Count >= 2 && atoms.Count <= nest.Positions.Length
            && atoms.Select((a, i) => a.Object is { Valid: null } o && o.Source == nest.Source && o.Position == nest.Positions[i]).All(m => m))
        {
            // The objects are the comprehension's first variables, in order: their first ones are summed already.
            var partial = Partial(nest, atoms.Count - 1);
            for (var c = 0; c < 4; c++)
            {
                sums.Add(Assign(components[c], partial[c]));
            }

            atoms = [atoms[^1]];
        }

        foreach (var atom in atoms)
        {
            if (atom.Prefix is { } prefix)
            {
                var pt = Variable(typeof(double), "pt");
                var phi = Variable(typeof(double), "phi");
                var vector = new List<Expression>
                {
                    Assign(pt, Widen(ArrayIndex(Column(prefix + "_pt"), _event))),
                    Assign(phi, Widen(ArrayIndex(Column(prefix + "_phi"), _event))),
                    AddAssign(x, Multiply(pt, Call(typeof(Math), nameof(Math.Cos), null, phi))),
                    AddAssign(y, Multiply(pt, Call(typeof(Math), nameof(Math.Sin), null, phi))),
                };
                if (what is Kinematic.Mass or Kinematic.Eta)
                {
                    var pz = Multiply(pt, Call(typeof(Math), nameof(Math.Sinh), null, Widen(ArrayIndex(Column(prefix + "_eta"), _event))));
                    var m = Widen(ArrayIndex(Column(prefix + "_mass"), _event));
                    var pzLocal = Variable(typeof(double), "z");
                    vector.Add(Block(
                        [pzLocal],
                        Assign(pzLocal, pz),
                        AddAssign(z, pzLocal),
                        AddAssign(e, Call(typeof(Math), nameof(Math.Sqrt), null, Add(Add(Multiply(pt, pt), Multiply(pzLocal, pzLocal)), Multiply(m, m))))));
                }

                sums.Add(Block([pt, phi], vector));
                continue;
            }

            var obj = atom.Object! with { Valid = null };
            for (var c = 0; c < 4; c++)
            {
                sums.Add(AddAssign(components[c], FourVectorOf(obj, c)));
            }
        }

        Expression result = what switch
        {
            Kinematic.Mass => Call(typeof(Math), nameof(Math.Sqrt), null, Call(MathMax, Constant(0.0), Subtract(Subtract(Subtract(Multiply(e, e), Multiply(x, x)), Multiply(y, y)), Multiply(z, z)))),
            Kinematic.Pt => Call(typeof(Math), nameof(Math.Sqrt), null, Add(Multiply(x, x), Multiply(y, y))),
            Kinematic.Eta => Call(typeof(Math), nameof(Math.Asinh), null, Divide(z, Call(typeof(Math), nameof(Math.Sqrt), null, Add(Multiply(x, x), Multiply(y, y))))),
            _ => Call(typeof(Math), nameof(Math.Atan2), null, y, x),
        };
        sums.Add(result);
        return Block(typeof(double), [x, y, z, e], sums);
    }

    /// <summary>One component (px, py, pz, E) of an object's four-vector, from the batch's four-vectors.</summary>
    private Expression FourVectorOf(ObjectRef obj, int component) =>
        InUnion(obj, (i, p) => ArrayIndex(FourVector(obj.Source.Collections[i], component), Add(_collections[obj.Source.Collections[i].Id].Start, p)), typeof(double));

    private ParameterExpression FourVector(Collection collection, int component)
    {
        if (!_fourVectors.TryGetValue(collection.Id, out var locals))
        {
            locals = new ParameterExpression[4];
            string[] names = ["px", "py", "pz", "e"];
            for (var c = 0; c < 4; c++)
            {
                locals[c] = Variable(typeof(double[]), $"{collection.Name}_{names[c]}");
                _locals.Add(locals[c]);
                _prologue.Add(Assign(locals[c], ArrayIndex(Field(_frame, nameof(Frame.FourVectors)), Constant((collection.Id * 4) + c))));
            }

            _fourVectors[collection.Id] = locals;
        }

        return locals[component];
    }
}
