using Apache.Arrow;
using Shoppe.Columnar.Io;

namespace Shoppe.Pushdown.Joins;

/// <summary>
/// A reference file and files of extra columns for the same events (delivered apart: muons in one request, jets in
/// another), read side by side and aligned row by row. The alignment is checked, never made: every row's
/// (run, luminosityBlock, event) must be the same on every side, and a difference stops the scan with the
/// first differing row named (<see cref="JoinMismatchException"/>). Nothing is sorted or buffered beyond one batch
/// per file; the batches of the sides may be cut differently, and are sliced to match.
/// </summary>
public static class AlignedBatches
{
    /// <summary>The columns that identify an event, which every side must have.</summary>
    public static readonly IReadOnlyList<string> Identity = ["run", "luminosityBlock", "event"];

    /// <summary>The joined schema: the reference's fields, then each other file's except the identity.</summary>
    /// <exception cref="Scans.ScanRequestException">A side lacks the identity columns, or two sides have a column of the same name.</exception>
    /// <param name="reference">The file whose rows the others must match.</param>
    /// <param name="others">The files of extra columns.</param>
    /// <param name="names">How errors name each file (reference first); their file names by default.</param>
    public static Schema CombinedSchema(ColumnarFile reference, IReadOnlyList<ColumnarFile> others, IReadOnlyList<string>? names = null)
    {
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(others);
        var fields = new List<Field>();
        var owner = new Dictionary<string, string>(StringComparer.Ordinal);
        var files = others.Prepend(reference).ToList();
        string Name(ColumnarFile file) => names?[files.IndexOf(file)] ?? Path.GetFileName(file.Location);
        foreach (var file in files)
        {
            foreach (var name in Identity)
            {
                if (file.Schema.GetFieldIndex(name) < 0)
                {
                    throw new Scans.ScanRequestException(409, "Not joinable", $"{Name(file)} has no column '{name}': every side of a join needs run, luminosityBlock and event (deliver them with the columns).");
                }

                if (file.Schema.GetFieldByName(name).DataType.TypeId is not (Apache.Arrow.Types.ArrowTypeId.UInt32 or Apache.Arrow.Types.ArrowTypeId.UInt64 or Apache.Arrow.Types.ArrowTypeId.Int32 or Apache.Arrow.Types.ArrowTypeId.Int64))
                {
                    throw new Scans.ScanRequestException(409, "Not joinable", $"{Name(file)} has '{name}' as {file.Schema.GetFieldByName(name).DataType.Name}, not an integer.");
                }
            }

            foreach (var field in file.Schema.FieldsList)
            {
                if (file != reference && Identity.Contains(field.Name))
                {
                    continue;
                }

                if (owner.TryGetValue(field.Name, out var first))
                {
                    throw new Scans.ScanRequestException(409, "Column in two datasets", $"Column '{field.Name}' is in both {first} and {Name(file)}; a join takes each column from one side.");
                }

                owner[field.Name] = Name(file);
                fields.Add(field);
            }
        }

        return new Schema(fields, null);
    }

    /// <summary>
    /// The joined batches with <paramref name="columns"/> (names of the combined schema, in its order). Each yielded
    /// batch shares the sides' buffers: use it before asking for the next, and do not dispose it.
    /// </summary>
    /// <param name="reference">The file whose rows the others must match.</param>
    /// <param name="others">The files of extra columns.</param>
    /// <param name="names">How errors name each file (reference first).</param>
    /// <param name="columns">The columns to give.</param>
    /// <param name="cancellationToken">Stops the reading.</param>
    public static IEnumerable<RecordBatch> Read(ColumnarFile reference, IReadOnlyList<ColumnarFile> others, IReadOnlyList<string> names, IReadOnlyList<string> columns, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(others);
        ArgumentNullException.ThrowIfNull(columns);
        var files = others.Prepend(reference).ToArray();
        var sides = new Side[files.Length];
        var schema = CombinedSchema(reference, others, names);
        var fields = columns.Select(c => schema.GetFieldByName(c)).ToArray();
        var source = new int[columns.Count];
        for (var s = 0; s < files.Length; s++)
        {
            var own = columns.Where(c => files[s].Schema.GetFieldIndex(c) >= 0 && (s == 0 || !Identity.Contains(c))).ToList();
            for (var c = 0; c < columns.Count; c++)
            {
                if (own.Contains(columns[c]))
                {
                    source[c] = s;
                }
            }

            var read = Identity.Concat(own).Distinct(StringComparer.Ordinal).ToArray();
            sides[s] = new Side(names[s], files[s].ReadBatches(read, cancellationToken).GetEnumerator());
        }

        try
        {
            while (true)
            {
                var available = int.MaxValue;
                var ended = 0;
                foreach (var side in sides)
                {
                    if (!side.Fill())
                    {
                        ended++;
                    }
                    else
                    {
                        available = Math.Min(available, side.Remaining);
                    }
                }

                if (ended == sides.Length)
                {
                    yield break;
                }

                if (ended > 0)
                {
                    var longer = sides.First(s => s.Remaining > 0);
                    var shorter = sides.First(s => s.Remaining == 0);
                    throw new JoinMismatchException($"{longer.Name} has more events than {shorter.Name}: {shorter.Name} ends after {shorter.Position} events, where {longer.Name} goes on with (run, luminosityBlock, event) = {longer.IdentityAt(longer.Offset)}.");
                }

                for (var s = 1; s < sides.Length; s++)
                {
                    Check(sides[0], sides[s], available);
                }

                var arrays = new IArrowArray[columns.Count];
                for (var c = 0; c < columns.Count; c++)
                {
                    arrays[c] = sides[source[c]].Take(columns[c], available);
                }

                var batch = new RecordBatch(new Schema(fields, null), arrays, available);
                yield return batch;
                foreach (var side in sides)
                {
                    side.Advance(available);
                }
            }
        }
        finally
        {
            foreach (var side in sides)
            {
                side.Dispose();
            }
        }
    }

    private static void Check(Side reference, Side other, int count)
    {
        for (var i = 0; i < count; i++)
        {
            if (reference.Run(i) != other.Run(i) || reference.Lumi(i) != other.Lumi(i) || reference.Event(i) != other.Event(i))
            {
                throw new JoinMismatchException($"{other.Name} does not line up with {reference.Name} at row {reference.Position + i}: (run, luminosityBlock, event) = {reference.IdentityAt(reference.Offset + i)} in {reference.Name}, {other.IdentityAt(other.Offset + i)} in {other.Name}. Join only column sets delivered without a filter (or with the same one) from the same files.");
            }
        }
    }

    /// <summary>One file's batches, with how far into the current one the join has come.</summary>
    private sealed class Side(string name, IEnumerator<RecordBatch> batches) : IDisposable
    {
        private RecordBatch? _batch;
        private IArrowArray? _run;
        private IArrowArray? _lumi;
        private IArrowArray? _event;

        public string Name { get; } = name;

        /// <summary>Rows of this file before the current one.</summary>
        public long Position { get; private set; }

        public int Offset { get; private set; }

        public int Remaining => _batch is null ? 0 : _batch.Length - Offset;

        /// <summary>Makes a batch with rows left current; false at the end of the file.</summary>
        public bool Fill()
        {
            while (Remaining == 0)
            {
                _batch?.Dispose();
                _batch = null;
                if (!batches.MoveNext())
                {
                    return false;
                }

                _batch = batches.Current;
                Offset = 0;
                _run = _batch.Column("run");
                _lumi = _batch.Column("luminosityBlock");
                _event = _batch.Column("event");
            }

            return true;
        }

        public ulong Run(int i) => Value(_run!, Offset + i);

        public ulong Lumi(int i) => Value(_lumi!, Offset + i);

        public ulong Event(int i) => Value(_event!, Offset + i);

        public string IdentityAt(int row) => $"({Value(_run!, row)}, {Value(_lumi!, row)}, {Value(_event!, row)})";

        /// <summary>The next <paramref name="count"/> rows of a column, sharing the batch's buffers.</summary>
        public IArrowArray Take(string column, int count)
        {
            var array = _batch!.Column(column);
            return Offset == 0 && count == array.Length ? array : ArrowArrayFactory.Slice(array, Offset, count);
        }

        public void Advance(int count)
        {
            Offset += count;
            Position += count;
        }

        public void Dispose()
        {
            _batch?.Dispose();
            batches.Dispose();
        }

        private static ulong Value(IArrowArray array, int row) => array switch
        {
            UInt32Array a => a.GetValue(row) ?? ulong.MaxValue,
            UInt64Array a => a.GetValue(row) ?? ulong.MaxValue,
            Int32Array a => (ulong)(a.GetValue(row) ?? -1),
            Int64Array a => (ulong)(a.GetValue(row) ?? -1),
            _ => throw new JoinMismatchException($"an identity column is {array.Data.DataType.Name}, not an integer"),
        };
    }
}
