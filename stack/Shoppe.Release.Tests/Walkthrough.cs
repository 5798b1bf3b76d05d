using System.Diagnostics;
using System.Text;

namespace Shoppe.Release.Tests;

/// <summary>
/// Runs a doc's walk-through: every line of its <c>bash</c> blocks that starts with <c>shoppe</c>, in order, with the
/// CLI this build made. A line ending "# exits 0 when certified, 1 when not" may end either way; every other must
/// succeed. Placeholders (a site's example URL) are replaced as the test says.
/// </summary>
internal static class Walkthrough
{
    public static string Cli => Path.Combine(Repository.Root, "stack", "Shoppe.Cli", "bin", "Release", "net10.0", "shoppe.dll");

    /// <summary>The <c>shoppe</c> lines of <paramref name="doc"/>'s bash blocks.</summary>
    public static List<string> Commands(string doc)
    {
        var commands = new List<string>();
        var inBash = false;
        foreach (var raw in File.ReadLines(doc))
        {
            var line = raw.Trim();
            if (line.StartsWith("```", StringComparison.Ordinal))
            {
                inBash = !inBash && line == "```bash";
                continue;
            }

            if (inBash && line.StartsWith("shoppe ", StringComparison.Ordinal))
            {
                commands.Add(line);
            }
        }

        return commands;
    }

    /// <summary>Runs one walk-through line; returns its exit code and output, after checking the code is one it may end with.</summary>
    public static async Task<(int Code, string Output)> RunAsync(string line, string folder, IReadOnlyDictionary<string, string> environment,
        IReadOnlyDictionary<string, string>? placeholders = null)
    {
        var comment = line.IndexOf(" #", StringComparison.Ordinal);
        var mayFail = comment >= 0 && line[comment..].Contains("1 when not", StringComparison.Ordinal);
        var command = comment >= 0 ? line[..comment].Trim() : line;
        foreach (var (placeholder, value) in placeholders ?? new Dictionary<string, string>())
        {
            command = command.Replace(placeholder, value, StringComparison.Ordinal);
        }

        var (code, output) = await ShoppeAsync(Split(command).Skip(1), folder, environment);
        Assert.True(code == 0 || (mayFail && code == 1), $"`{line}` exited {code}:\n{output}");
        return (code, output);
    }

    /// <summary>Runs the CLI with <paramref name="arguments"/> in <paramref name="folder"/>.</summary>
    public static async Task<(int Code, string Output)> ShoppeAsync(IEnumerable<string> arguments, string folder, IReadOnlyDictionary<string, string> environment)
    {
        var start = new ProcessStartInfo("dotnet") { WorkingDirectory = folder, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Cli);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start)!;
        var output = new StringBuilder();
        var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        output.Append(await stdout).Append(await stderr);
        TestContext.Current.TestOutputHelper?.WriteLine($"$ shoppe {string.Join(' ', start.ArgumentList.Skip(1))}  -> {process.ExitCode}\n{output}");
        return (process.ExitCode, output.ToString());
    }

    /// <summary>Splits a command line on blanks, keeping quoted words whole.</summary>
    public static List<string> Split(string command)
    {
        var words = new List<string>();
        var word = new StringBuilder();
        char? quote = null;
        var any = false;
        foreach (var c in command)
        {
            if (quote is not null)
            {
                if (c == quote)
                {
                    quote = null;
                }
                else
                {
                    word.Append(c);
                }
            }
            else if (c is '\'' or '"')
            {
                quote = c;
                any = true;
            }
            else if (char.IsWhiteSpace(c))
            {
                if (word.Length > 0 || any)
                {
                    words.Add(word.ToString());
                    word.Clear();
                    any = false;
                }
            }
            else
            {
                word.Append(c);
            }
        }

        if (word.Length > 0 || any)
        {
            words.Add(word.ToString());
        }

        return words;
    }

    /// <summary>
    /// Clones this repository (its committed state) into <paramref name="folder"/>, as it was before its first release:
    /// the releases and keys committed since are removed in a commit of the clone's own, so the walk-through cuts 0.1.0
    /// with a key of its own, as the docs' first release does.
    /// </summary>
    public static async Task<string> CloneAsync(string folder)
    {
        var target = Path.Combine(folder, "repo");
        var (code, output) = await Processes.RunAsync("git", ["clone", "-q", Repository.Root, target], folder, TestContext.Current.CancellationToken);
        Assert.True(code == 0, output);
        foreach (var (key, value) in new[] { ("user.email", "release-manager@example.org"), ("user.name", "Release Manager") })
        {
            await Processes.GitAsync(target, TestContext.Current.CancellationToken, "config", key, value);
        }

        var released = new[] { "stack/releases", "stack/keys" }.Where(p => Directory.Exists(Path.Combine(target, p))).ToArray();
        if (released.Length > 0)
        {
            await Processes.GitAsync(target, TestContext.Current.CancellationToken, ["rm", "-r", "-q", .. released]);
            await Processes.GitAsync(target, TestContext.Current.CancellationToken, "commit", "-qm", "Before the first release");
        }

        return target;
    }
}
