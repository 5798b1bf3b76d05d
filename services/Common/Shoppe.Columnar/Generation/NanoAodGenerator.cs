using System.Runtime.InteropServices;
using Apache.Arrow;
using ParquetSharp;
using Shoppe.Columnar.Io;

namespace Shoppe.Columnar.Generation;

/// <summary>What <see cref="NanoAodGenerator.Write"/> wrote.</summary>
public sealed record GeneratedDataset(IReadOnlyList<string> Files, long Events, long Bytes, IReadOnlyList<string> Columns);

/// <summary>
/// Writes NanoAOD-shaped Parquet at any size by resampling real events: each generated event is a copy of a random
/// source event with its collections intact, a new event number, and jittered kinematics (pT and masses scaled by
/// a log-normal factor of 5 %, η and φ shifted by 0.02, φ kept in (-π, π]), so distributions stay realistic.
/// Deterministic for a seed.
/// </summary>
public static class NanoAodGenerator
{
    /// <summary>The columns written by default: what the ADL queries and the usual slimming read, and a few more.</summary>
    public static readonly IReadOnlyList<string> DefaultColumns =
    [
        "run", "luminosityBlock", "event", "HLT_IsoMu24", "MET_pt", "MET_phi", "MET_sumEt", "genWeight",
        "nMuon", "Muon_pt", "Muon_eta", "Muon_phi", "Muon_mass", "Muon_charge", "Muon_tightId", "Muon_pfRelIso04_all",
        "nElectron", "Electron_pt", "Electron_eta", "Electron_phi", "Electron_mass", "Electron_charge", "Electron_cutBased",
        "nJet", "Jet_pt", "Jet_eta", "Jet_phi", "Jet_mass", "Jet_btagDeepB", "Jet_jetId", "Jet_puId",
        "nPhoton", "Photon_pt", "Photon_eta", "Photon_phi", "nTau", "Tau_pt", "Tau_eta", "Tau_phi",
    ];

    /// <summary>
    /// Writes <paramref name="events"/> events into <paramref name="files"/> files under <paramref name="folder"/>,
    /// in row groups of <paramref name="rowGroupEvents"/>. <paramref name="columns"/> null means
    /// <see cref="DefaultColumns"/>; an empty list means every column the sources share.
    /// </summary>
    public static GeneratedDataset Write(IReadOnlyList<string> sources, string folder, long events, int files, int rowGroupEvents, int seed, IReadOnlyList<string>? columns = null, Action<string>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(sources);
        ArgumentOutOfRangeException.ThrowIfLessThan(events, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(files, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(rowGroupEvents, 1);
        var pool = LoadPool(sources, columns ?? DefaultColumns);
        Directory.CreateDirectory(folder);
        var random = new Random(seed);
        var written = new List<string>();
        long bytes = 0;
        ulong eventNumber = 1;
        for (var f = 0; f < files; f++)
        {
            var count = (events / files) + (f < events % files ? 1 : 0);
            var path = Path.Combine(folder, $"nano_{f:D4}.parquet");
            using (var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                using var properties = new WriterPropertiesBuilder().Compression(Compression.Zstd).CreatedBy("Coffea Shoppe NanoAOD generator").Build();
                using var writer = new ParquetSharp.Arrow.FileWriter(stream, pool.Schema, properties, leaveOpen: true);
                for (long done = 0; done < count; done += rowGroupEvents)
                {
                    var n = (int)Math.Min(rowGroupEvents, count - done);
                    using var batch = Sample(pool, n, random, ref eventNumber);
                    writer.WriteRecordBatch(batch);
                }

                writer.Close();
            }

            bytes += new FileInfo(path).Length;
            written.Add(path);
            progress?.Invoke($"{path}: {count} events");
        }

        return new GeneratedDataset(written, events, bytes, pool.Schema.FieldsList.Select(c => c.Name).ToList());
    }

    /// <summary>Every event of the sources, with the columns all of them have (of those asked for), in one batch.</summary>
    private static RecordBatch LoadPool(IReadOnlyList<string> sources, IReadOnlyList<string> wanted)
    {
        var opened = sources.Select(s => ColumnarFile.OpenAsync(s, null, default).GetAwaiter().GetResult()).ToList();
        try
        {
            var common = opened[0].Schema.FieldsList.Select(f => f.Name)
                .Where(n => opened.All(o => o.Schema.GetFieldIndex(n) >= 0) && (wanted.Count == 0 || wanted.Contains(n)))
                .ToList();
            var batches = opened.SelectMany(o => o.ReadBatches(common)).ToList();
            var arrays = common.Select((_, c) => ArrowArrayConcatenator.Concatenate(batches.Select(b => b.Column(c)).ToList())!).ToList();
            return new RecordBatch(batches[0].Schema, arrays, batches.Sum(b => b.Length));
        }
        finally
        {
            opened.ForEach(o => o.Dispose());
        }
    }

    private static RecordBatch Sample(RecordBatch pool, int n, Random random, ref ulong eventNumber)
    {
        var rows = new int[n];
        for (var i = 0; i < n; i++)
        {
            rows[i] = random.Next(pool.Length);
        }

        var arrays = new IArrowArray[pool.ColumnCount];
        for (var c = 0; c < arrays.Length; c++)
        {
            var name = pool.Schema.FieldsList[c].Name;
            var source = pool.Column(c);
            if (name == "event")
            {
                var numbers = new ulong[n];
                for (var i = 0; i < n; i++)
                {
                    numbers[i] = eventNumber++;
                }

                arrays[c] = new UInt64Array(new ArrowBuffer(MemoryMarshal.AsBytes(numbers.AsSpan()).ToArray()), ArrowBuffer.Empty, n, 0, 0);
                continue;
            }

            var taken = source is LargeListArray or ListArray ? ArrowColumns.TakeLists(source, rows, keep: null) : ArrowColumns.Take(source, rows);
            arrays[c] = Jitter(name, taken, random);
        }

        return new RecordBatch(pool.Schema, arrays, n);
    }

    private static IArrowArray Jitter(string name, IArrowArray array, Random random)
    {
        var scale = name.EndsWith("_pt", StringComparison.Ordinal) || name.EndsWith("_mass", StringComparison.Ordinal) || name == "MET_sumEt";
        var shiftEta = name.EndsWith("_eta", StringComparison.Ordinal);
        var shiftPhi = name.EndsWith("_phi", StringComparison.Ordinal);
        if (!scale && !shiftEta && !shiftPhi)
        {
            return array;
        }

        var (floats, rebuild) = array switch
        {
            FloatArray f => (f, (Func<FloatArray, IArrowArray>)(v => v)),
            LargeListArray { Values: FloatArray f } list => (f, v => new LargeListArray(list.Data.DataType, list.Length, list.ValueOffsetsBuffer, v, ArrowBuffer.Empty, 0, 0)),
            _ => (null, null!),
        };
        if (floats is null)
        {
            return array;
        }

        var values = floats.Values.ToArray();
        for (var i = 0; i < values.Length; i++)
        {
            if (scale)
            {
                values[i] *= (float)Math.Exp(0.05 * Gaussian(random));
            }
            else if (shiftEta)
            {
                values[i] += (float)(0.02 * Gaussian(random));
            }
            else
            {
                values[i] = (float)Math.IEEERemainder(values[i] + (0.02 * Gaussian(random)), 2 * Math.PI);
            }
        }

        var data = new ArrayData(floats.Data.DataType, values.Length, 0, 0, [ArrowBuffer.Empty, new ArrowBuffer(MemoryMarshal.AsBytes(values.AsSpan()).ToArray())]);
        return rebuild(new FloatArray(data));
    }

    private static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
