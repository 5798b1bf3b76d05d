using System.Globalization;
using System.Text.RegularExpressions;
using Shoppe.Testing;

namespace Shoppe.Cache.Benchmarks;

/// <summary>
/// The wrk phase (docs/performance.md, "Cache"): <c>wrk --latency</c>, 2 threads and 16 connections, a Lua script
/// asking for random 64 KiB ranges of the set's files (with our cache's bearer token where it needs one), for a
/// fixed time: requests/s and p50/p99 as a C load generator sees them, apart from .NET's own client.
/// </summary>
internal static partial class WrkPhase
{
    /// <summary>wrk's threads and connections: the figures of the issue that asked for this phase (item 4, hot paths).</summary>
    public const int Threads = 2;

    /// <summary>Connections, 8 per thread.</summary>
    public const int Connections = 16;

    // Per thread: its own seed (setup runs in the main state, init in each thread's), then a random file and a
    // random offset per request. Arguments: file size, range size, Authorization header or "-", file names.
    private const string Script = """
        local counter = 0
        function setup(thread)
          counter = counter + 1
          thread:set("id", counter)
        end

        local size, range, auth, names
        function init(args)
          size = tonumber(args[1])
          range = tonumber(args[2])
          auth = args[3]
          names = {}
          for i = 4, #args do names[#names + 1] = "/" .. args[i] end
          math.randomseed(id * 7919 + os.time())
        end

        function request()
          local offset = math.floor(math.random() * (size - range + 1))
          local headers = { Range = string.format("bytes=%d-%d", offset, offset + range - 1) }
          if auth ~= "-" then headers["Authorization"] = auth end
          return wrk.format("GET", names[math.random(#names)], headers)
        end
        """;

    /// <summary>wrk's path, installed here (as eng/install-test-deps.sh does) on a machine that lacks it.</summary>
    public static async Task<string> EnsureInstalledAsync()
    {
        try
        {
            return Repository.Tool("wrk");
        }
        catch (InvalidOperationException)
        {
            Console.WriteLine("wrk is missing: installing Debian's package (eng/lib/install.sh, apt_install)");
            var lib = Path.Combine(Repository.Root, "eng", "lib", "install.sh");
            await PeerProcess.RunAsync("bash", ["-c", $". '{lib}' && apt_install wrk"]);
            return Repository.Tool("wrk");
        }
    }

    /// <summary>Writes the Lua script into <paramref name="folder"/>; its path.</summary>
    public static string WriteScript(string folder)
    {
        var path = Path.Combine(folder, "random-ranges.lua");
        File.WriteAllText(path, Script);
        return path;
    }

    /// <summary>One wrk run against <paramref name="url"/>: requests/s, p50 and p99 in ms.</summary>
    public static async Task<WrkResult> RunAsync(string wrk, string script, string url, string? authorization, string[] names, long fileSize, int rangeBytes, int seconds)
    {
        string[] args =
        [
            "-t", Threads.ToString(CultureInfo.InvariantCulture), "-c", Connections.ToString(CultureInfo.InvariantCulture),
            "-d", $"{seconds}s", "--latency", "-s", script, url, "--",
            fileSize.ToString(CultureInfo.InvariantCulture), rangeBytes.ToString(CultureInfo.InvariantCulture), authorization ?? "-", .. names,
        ];
        var output = await PeerProcess.RunAsync(wrk, args);
        var errors = ErrorsLine().Match(output);
        if (NonSuccess().Match(output) is { Success: true } bad)
        {
            throw new InvalidOperationException($"{url}: wrk got {bad.Groups[1].Value} answers that were not 2xx/3xx:\n{output}");
        }

        return new WrkResult(
            double.Parse(RequestsPerSecond().Match(output).Groups[1].Value, CultureInfo.InvariantCulture),
            Percentile(output, "50"),
            Percentile(output, "99"),
            errors.Success ? errors.Value.Trim() : null);
    }

    private static double Percentile(string output, string percent)
    {
        var match = Regex.Match(output, $@"^\s*{percent}(?:\.0+)?%\s+([0-9.]+)(us|ms|s|m)\s*$", RegexOptions.Multiline);
        if (!match.Success)
        {
            throw new InvalidOperationException($"wrk printed no {percent}% latency:\n{output}");
        }

        var value = double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
        return match.Groups[2].Value switch
        {
            "us" => value / 1000,
            "ms" => value,
            "s" => value * 1000,
            _ => value * 60_000,
        };
    }

    [GeneratedRegex(@"^Requests/sec:\s+([0-9.]+)", RegexOptions.Multiline)]
    private static partial Regex RequestsPerSecond();

    [GeneratedRegex(@"^\s*Socket errors:.*$", RegexOptions.Multiline)]
    private static partial Regex ErrorsLine();

    [GeneratedRegex(@"Non-2xx or 3xx responses:\s+([0-9]+)")]
    private static partial Regex NonSuccess();
}

/// <summary>One wrk run's figures; <see cref="Errors"/>: wrk's socket-error line, when it printed one.</summary>
internal sealed record WrkResult(double RequestsPerSecond, double P50, double P99, string? Errors);
