using System.Text.Json;
using System.Text.RegularExpressions;
using Shoppe.Workflow.State;

namespace Shoppe.Workflow.Documents;

/// <summary>A work checked and numbered: what the scheduler needs without reading the document again.</summary>
internal sealed record PlannedWork(int Index, WorkSpec Spec, int Runner, int MaxAttempts, int[] After, HashSet<string> ArgNames)
{
    public string Name => Spec.Name!;
}

/// <summary>
/// A workflow head checked against every rule that does not need its jobs: names unique and valid, actions known with
/// their parameters, references to works, collections and parameters resolvable, no cycle among works (a loop repeats
/// one work and is no cycle). Every refusal names the element at fault.
/// </summary>
internal sealed partial class WorkflowPlan
{
    public const int MaxWorks = 10_000;
    public const int MaxLoop = 1000;

    private readonly Dictionary<string, int> _workIndex = new(StringComparer.Ordinal);

    private WorkflowPlan(WorkflowHead head, List<PlannedWork> works)
    {
        Head = head;
        Works = works;
        for (var i = 0; i < works.Count; i++)
        {
            _workIndex[works[i].Name] = i;
        }
    }

    public WorkflowHead Head { get; }

    public IReadOnlyList<PlannedWork> Works { get; }

    public bool TryGetWork(string name, out int index) => _workIndex.TryGetValue(name, out index);

    /// <summary>Checks <paramref name="head"/>; throws <see cref="WorkflowDocumentException"/> at the first fault.</summary>
    public static WorkflowPlan Build(WorkflowHead head, bool batchAvailable)
    {
        var works = head.Works ?? [];
        if (works.Count == 0)
        {
            throw new WorkflowDocumentException("/works", "A workflow has at least one work.");
        }

        if (works.Count > MaxWorks)
        {
            throw new WorkflowDocumentException("/works", $"A workflow has at most {MaxWorks} works; use a template (forEach) or jobs.");
        }

        if (head.Name is { Length: > 200 })
        {
            throw new WorkflowDocumentException("/name", "A name is at most 200 characters.");
        }

        var parameters = head.Parameters ?? [];
        foreach (var (name, _) in parameters)
        {
            CheckName(name, $"/parameters/{name}");
        }

        var collections = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < (head.Collections?.Count ?? 0); i++)
        {
            var c = head.Collections![i];
            var at = $"/collections/{i}";
            CheckName(c.Name, at + "/name");
            if (!collections.Add(c.Name!))
            {
                throw new WorkflowDocumentException(at + "/name", $"Collection '{c.Name}' is declared twice.");
            }

            foreach (var (file, j) in (c.Files ?? []).Select((f, j) => (f, j)))
            {
                CheckFileName(file, $"{at}/files/{j}");
            }

            if (c.Folder is { } folder && !Path.IsPathFullyQualified(folder))
            {
                throw new WorkflowDocumentException(at + "/folder", "A watched folder is an absolute path.");
            }

            if (c.CloseAfterSeconds is <= 0 or > 30 * 86400)
            {
                throw new WorkflowDocumentException(at + "/closeAfterSeconds", "closeAfterSeconds is between 0 and 30 days.");
            }

            if (c.StageFrom is { } stage && (!Uri.TryCreate(stage, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https" or "davs" or "dav")))
            {
                throw new WorkflowDocumentException(at + "/stageFrom", "stageFrom is an http(s) URL of a folder at another site.");
            }

            if (c.StageFrom is not null && c.Folder is null)
            {
                throw new WorkflowDocumentException(at + "/folder", "A collection staged in names the folder the files are copied into.");
            }
        }

        var names = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < works.Count; i++)
        {
            CheckName(works[i].Name, $"/works/{i}/name");
            if (!names.TryAdd(works[i].Name!, i))
            {
                throw new WorkflowDocumentException($"/works/{i}/name", $"Work '{works[i].Name}' is declared twice.");
            }
        }

        var planned = new List<PlannedWork>(works.Count);
        for (var i = 0; i < works.Count; i++)
        {
            planned.Add(PlanWork(works[i], i, $"/works/{i}", names, collections, parameters, batchAvailable));
        }

        var fed = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < planned.Count; i++)
        {
            if (planned[i].Spec.ForEach?.Collection is { } collection && !fed.Add(collection))
            {
                throw new WorkflowDocumentException($"/works/{i}/forEach/collection", $"Collection '{collection}' feeds another work already: a collection's files make one work's jobs (later works read its outputs).");
            }
        }

        CheckAcyclic(planned);
        return new WorkflowPlan(head, planned);
    }

    private static PlannedWork PlanWork(WorkSpec work, int index, string at, Dictionary<string, int> names, HashSet<string> collections,
        Dictionary<string, string> parameters, bool batchAvailable)
    {
        var runner = work.Action switch
        {
            "command" => work.Command is { Batch: true } or { Gpus: > 0 } && batchAvailable ? Runners.Batch : Runners.Process,
            "noop" => Runners.Instant,
            "delivery" or "transfer" or "workflow" => Runners.Service,
            null => throw new WorkflowDocumentException(at + "/action", "A work names its action: command, noop, delivery, transfer or workflow."),
            _ => throw new WorkflowDocumentException(at + "/action", $"'{work.Action}' is not an action: command, noop, delivery, transfer or workflow."),
        };
        var templates = new List<(string Text, string Where)>();
        switch (work.Action)
        {
            case "command":
                var command = work.Command ?? throw new WorkflowDocumentException(at + "/command", "A command work has a 'command' with its argv.");
                if (command.Argv is not { Count: > 0 } argv || argv.Count > 10_000 || string.IsNullOrEmpty(argv[0]))
                {
                    throw new WorkflowDocumentException(at + "/command/argv", "argv is 1 to 10 000 arguments, the program first.");
                }

                templates.AddRange(argv.Select((a, j) => (a, $"{at}/command/argv/{j}")));
                templates.AddRange((command.Env ?? []).Select(e => (e.Value, $"{at}/command/env/{e.Key}")));
                foreach (var (name, _) in command.Env ?? [])
                {
                    if (name.Length == 0 || name.Contains('=', StringComparison.Ordinal) || name.Contains('\0', StringComparison.Ordinal))
                    {
                        throw new WorkflowDocumentException($"{at}/command/env/{name}", "An environment variable's name has no '=' or NUL.");
                    }
                }

                if (command.Workdir is { } workdir)
                {
                    if (!Path.IsPathFullyQualified(workdir))
                    {
                        throw new WorkflowDocumentException(at + "/command/workdir", "workdir is an absolute path.");
                    }

                    templates.Add((workdir, at + "/command/workdir"));
                }

                Range(command.Cores, 1, 1024, at + "/command/cores");
                Range(command.MemoryMb, 1, 16 * 1024 * 1024, at + "/command/memoryMb");
                Range(command.Gpus, 0, 64, at + "/command/gpus");
                if (command.TimeoutSeconds is <= 0 or > 30 * 86400)
                {
                    throw new WorkflowDocumentException(at + "/command/timeoutSeconds", "timeoutSeconds is between 0 and 30 days.");
                }

                break;
            case "noop":
                break;
            case "delivery":
                if (work.Delivery is not { ValueKind: JsonValueKind.Object } delivery)
                {
                    throw new WorkflowDocumentException(at + "/delivery", "A delivery work has a 'delivery' object: the transform request (dataset, columns, filter…).");
                }

                CollectStrings(delivery, at + "/delivery", templates);
                break;
            case "transfer":
                if (work.Transfer is not { Source: { Length: > 0 }, Destination: { Length: > 0 } } transfer)
                {
                    throw new WorkflowDocumentException(at + "/transfer", "A transfer work has a 'transfer' with source and destination URLs.");
                }

                templates.Add((transfer.Source, at + "/transfer/source"));
                templates.Add((transfer.Destination, at + "/transfer/destination"));
                break;
            case "workflow":
                if (work.Workflow is not { ValueKind: JsonValueKind.Object })
                {
                    throw new WorkflowDocumentException(at + "/workflow", "A workflow work has a 'workflow': a whole workflow document.");
                }

                break;
        }

        var after = new List<int>();
        for (var j = 0; j < (work.After?.Count ?? 0); j++)
        {
            var other = work.After![j];
            if (!names.TryGetValue(other, out var k))
            {
                throw new WorkflowDocumentException($"{at}/after/{j}", $"'{other}' is not a work of this workflow.");
            }

            after.Add(k);
        }

        if (work.When is { } when)
        {
            CheckCondition(when, at + "/when", names, after, index, selfAllowed: false);
        }

        if (work.Loop is { } loop)
        {
            if (loop.Max < 2 || loop.Max > MaxLoop)
            {
                throw new WorkflowDocumentException(at + "/loop/max", $"A loop runs a work 2 to {MaxLoop} times.");
            }

            if (loop.While is null)
            {
                throw new WorkflowDocumentException(at + "/loop/while", "A loop says while what it repeats.");
            }

            CheckCondition(loop.While, at + "/loop/while", names, after, index, selfAllowed: true);
        }

        if (work.ForEach is { } forEach)
        {
            if (forEach.Collection is null || !collections.Contains(forEach.Collection))
            {
                throw new WorkflowDocumentException(at + "/forEach/collection", $"'{forEach.Collection}' is not a collection of this workflow.");
            }

            Range(forEach.FilesPerJob, 1, 100_000, at + "/forEach/filesPerJob");
            if (work.Loop is not null)
            {
                throw new WorkflowDocumentException(at + "/loop", "A work made from a collection's files does not loop; loop a sub-workflow instead.");
            }
        }

        Range(work.Attempts, 1, 10, at + "/attempts");
        var argNames = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (text, where) in templates)
        {
            foreach (var reference in Template.References(text, where))
            {
                CheckReference(reference, where, names, parameters, work.ForEach is not null, argNames, after, index);
            }
        }

        return new PlannedWork(index, work, runner, work.Attempts ?? 3, after.Distinct().Order().ToArray(), argNames);
    }

    private static void CheckReference(string reference, string where, Dictionary<string, int> names, Dictionary<string, string> parameters,
        bool hasFiles, HashSet<string> argNames, List<int> after, int self)
    {
        var parts = reference.Split('.');
        switch (parts[0])
        {
            case "parameters" when parts.Length == 2:
                if (!parameters.ContainsKey(parts[1]))
                {
                    throw new WorkflowDocumentException(where, $"${{{reference}}}: the workflow has no parameter '{parts[1]}'.");
                }

                return;
            case "args" when parts.Length == 2:
                argNames.Add(parts[1]);
                return;
            case "file" or "files" when parts.Length == 1:
                if (!hasFiles)
                {
                    throw new WorkflowDocumentException(where, $"${{{reference}}}: only a work made from a collection's files (forEach) has files.");
                }

                return;
            case "workflow" when parts is [_, "id"]:
            case "job" when parts is [_, "id"] or [_, "index"]:
                return;
            case "works" when parts.Length == 4 && parts[2] == "outputs":
                if (!names.TryGetValue(parts[1], out var k) || k == self)
                {
                    throw new WorkflowDocumentException(where, $"${{{reference}}}: '{parts[1]}' is not another work of this workflow.");
                }

                if (!after.Contains(k))
                {
                    after.Add(k); // Using a work's outputs waits for it.
                }

                return;
            default:
                throw new WorkflowDocumentException(where, $"${{{reference}}} is not a reference: use parameters.NAME, args.NAME, file, files, workflow.id, job.id, job.index or works.WORK.outputs.KEY.");
        }
    }

    private static void CheckCondition(ConditionSpec condition, string at, Dictionary<string, int> names, List<int> after, int self, bool selfAllowed)
    {
        var kinds = (condition.Work is not null || condition.Is is not null ? 1 : 0) + (condition.Output is not null ? 1 : 0)
            + (condition.All is not null ? 1 : 0) + (condition.Any is not null ? 1 : 0) + (condition.Not is not null ? 1 : 0);
        if (kinds != 1)
        {
            throw new WorkflowDocumentException(at, "A condition is one of: {work, is}, {output, equalTo}, {all: [...]}, {any: [...]}, {not: ...}.");
        }

        if (condition.Work is not null || condition.Is is not null)
        {
            var k = Named(condition.Work, at + "/work", names, self, selfAllowed);
            if (condition.Is is not ("succeeded" or "failed" or "skipped" or "finished"))
            {
                throw new WorkflowDocumentException(at + "/is", "'is' is succeeded, failed, skipped or finished.");
            }

            if (k != self && !after.Contains(k))
            {
                after.Add(k);
            }
        }
        else if (condition.Output is { } output)
        {
            var dot = output.IndexOf('.', StringComparison.Ordinal);
            if (dot <= 0 || dot == output.Length - 1)
            {
                throw new WorkflowDocumentException(at + "/output", "'output' is WORK.KEY.");
            }

            var k = Named(output[..dot], at + "/output", names, self, selfAllowed);
            if (k != self && !after.Contains(k))
            {
                after.Add(k);
            }
        }
        else
        {
            var list = condition.All ?? condition.Any;
            if (list is not null)
            {
                if (list.Count == 0)
                {
                    throw new WorkflowDocumentException(at, "'all' and 'any' hold at least one condition.");
                }

                for (var i = 0; i < list.Count; i++)
                {
                    CheckCondition(list[i], $"{at}/{(condition.All is not null ? "all" : "any")}/{i}", names, after, self, selfAllowed);
                }
            }
            else
            {
                CheckCondition(condition.Not!, at + "/not", names, after, self, selfAllowed);
            }
        }
    }

    private static int Named(string? name, string at, Dictionary<string, int> names, int self, bool selfAllowed)
    {
        if (name is null || !names.TryGetValue(name, out var k))
        {
            throw new WorkflowDocumentException(at, $"'{name}' is not a work of this workflow.");
        }

        if (k == self && !selfAllowed)
        {
            throw new WorkflowDocumentException(at, "A work's condition cannot wait for the work itself (a loop's 'while' can).");
        }

        return k;
    }

    /// <summary>Works wait only for works that end before them: a cycle (outside a loop's own work) is refused, naming one member.</summary>
    private static void CheckAcyclic(List<PlannedWork> works)
    {
        var state = new byte[works.Count]; // 0 new, 1 on the path, 2 done
        for (var start = 0; start < works.Count; start++)
        {
            if (state[start] != 0)
            {
                continue;
            }

            var stack = new Stack<(int Work, int Next)>();
            stack.Push((start, 0));
            state[start] = 1;
            while (stack.Count > 0)
            {
                var (work, next) = stack.Pop();
                var after = works[work].After;
                if (next < after.Length)
                {
                    stack.Push((work, next + 1));
                    var other = after[next];
                    if (state[other] == 1)
                    {
                        throw new WorkflowDocumentException($"/works/{work}/after", $"Works '{works[work].Name}' and '{works[other].Name}' wait for each other (a cycle); only a loop repeats a work.");
                    }

                    if (state[other] == 0)
                    {
                        state[other] = 1;
                        stack.Push((other, 0));
                    }
                }
                else
                {
                    state[work] = 2;
                }
            }
        }
    }

    private static void CollectStrings(JsonElement element, string at, List<(string, string)> into)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.String:
                into.Add((element.GetString()!, at));
                break;
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    CollectStrings(property.Value, $"{at}/{property.Name}", into);
                }

                break;
            case JsonValueKind.Array:
                var i = 0;
                foreach (var item in element.EnumerateArray())
                {
                    CollectStrings(item, $"{at}/{i++}", into);
                }

                break;
        }
    }

    private static void Range(int? value, int min, int max, string at)
    {
        if (value is { } v && (v < min || v > max))
        {
            throw new WorkflowDocumentException(at, $"Between {min} and {max}.");
        }
    }

    public static void CheckName(string? name, string at)
    {
        if (name is null || !NamePattern().IsMatch(name))
        {
            throw new WorkflowDocumentException(at, $"'{name}' is not a name: 1-100 of A-Za-z0-9_- starting with a letter or digit.");
        }
    }

    public static void CheckFileName(string? name, string at)
    {
        if (string.IsNullOrEmpty(name) || name.Length > 1024 || name.Contains('\0', StringComparison.Ordinal) || name.Contains('\n', StringComparison.Ordinal))
        {
            throw new WorkflowDocumentException(at, "A file is a name or URL of 1-1024 characters, without NUL or newline.");
        }
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")]
    private static partial Regex NamePattern();
}
