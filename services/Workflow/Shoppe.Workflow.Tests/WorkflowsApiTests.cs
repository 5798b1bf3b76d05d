using System.Net.Http.Json;
using System.Net;
using System.Text.Json.Nodes;

namespace Shoppe.Workflow.Tests;

/// <summary>Submission, dependencies, outputs passed on, conditions, loops and control, through a real pilot.</summary>
public sealed class WorkflowsApiTests : IAsyncLifetime
{
    private readonly string _root = Directory.CreateTempSubdirectory("shoppe-workflow-").FullName;
    private WorkflowServiceFactory _service = null!;
    private readonly CancellationTokenSource _pilot = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public ValueTask InitializeAsync()
    {
        _service = new WorkflowServiceFactory(Path.Combine(_root, "service"), new Dictionary<string, string?> { ["Workflow:WatchRoots:0"] = Path.Combine(_root, "incoming") });
        _ = _service.RunPilotAsync(Path.Combine(_root, "pilot"), _pilot.Token);
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await _pilot.CancelAsync();
        _pilot.Dispose();
        await _service.DisposeAsync();
        await TestFolders.DeleteAsync(_root);
    }

    [Fact]
    public async Task Submit_JobDag_RunsInDependencyOrderAndPassesOutputs()
    {
        using var alice = _service.ClientFor("alice");
        var log = Path.Combine(_root, "order.log");
        var id = await WorkflowServiceFactory.SubmitOkAsync(alice, $$"""
            {
              "name": "diamond",
              "parameters": { "greeting": "hello" },
              "works": [
                { "name": "step", "action": "command",
                  "command": { "argv": ["sh", "-c", "echo ${args.n} >> {{log}}; echo n=${args.n} > $SHOPPE_OUTPUTS; echo ${parameters.greeting} ${args.n}"] } },
                { "name": "merge", "action": "command", "after": ["step"],
                  "command": { "argv": ["sh", "-c", "echo merged ${works.step.outputs.n} >> {{log}}"] } }
              ],
              "jobs": [
                { "name": "a", "work": "step", "args": { "n": "1" } },
                { "name": "d", "work": "step", "after": ["b", "c"], "args": { "n": "4" } },
                { "name": "b", "work": "step", "after": ["a"], "args": { "n": "2" } },
                { "name": "c", "work": "step", "after": ["a"], "args": { "n": "3" } }
              ]
            }
            """);
        var status = await WorkflowServiceFactory.WaitAsync(alice, id);

        Assert.Equal("succeeded", status["state"]!.GetValue<string>());
        Assert.Equal(4, WorkflowServiceFactory.Count(status, "step", "succeeded"));
        var lines = await File.ReadAllLinesAsync(log, Ct);
        Assert.Equal("1", lines[0]);
        Assert.Equal(["2", "3"], lines[1..3].Order());
        Assert.Equal("4", lines[3]);
        // The merge saw every step's output, in job order (a, d, b, c were declared in that order).
        Assert.Equal("merged 1 4 2 3", lines[4]);
        Assert.Equal(["step", "merge"], status["criticalPath"]!["works"]!.AsArray().Select(w => w!.GetValue<string>()));
    }

    [Fact]
    public async Task Submit_Yaml_IsTheSameDocument()
    {
        using var alice = _service.ClientFor("alice");
        var id = await WorkflowServiceFactory.SubmitOkAsync(alice, """
            name: yaml
            works:
              - name: first
                action: noop
              - name: second
                action: command
                after: [first]
                command:
                  argv: [sh, -c, "exit 0"]
                  cores: 1
            """, "application/yaml");
        var status = await WorkflowServiceFactory.WaitAsync(alice, id);
        Assert.Equal("succeeded", status["state"]!.GetValue<string>());
        Assert.Equal(1, WorkflowServiceFactory.Count(status, "second", "succeeded"));
    }

    [Fact]
    public async Task Conditions_TakeTheBranchTheOutcomeSays()
    {
        using var alice = _service.ClientFor("alice");
        var id = await WorkflowServiceFactory.SubmitOkAsync(alice, """
            {
              "works": [
                { "name": "check", "action": "command", "attempts": 1, "command": { "argv": ["sh", "-c", "echo failing >&2; exit 3"] } },
                { "name": "onFailure", "action": "noop", "when": { "work": "check", "is": "failed" } },
                { "name": "onSuccess", "action": "noop", "when": { "work": "check", "is": "succeeded" } },
                { "name": "either", "action": "noop", "when": { "any": [ { "work": "onSuccess", "is": "succeeded" }, { "not": { "work": "onFailure", "is": "skipped" } } ] } }
              ]
            }
            """);
        var status = await WorkflowServiceFactory.WaitAsync(alice, id);

        Assert.Equal("failed", WorkflowServiceFactory.WorkState(status, "check"));
        Assert.Equal("succeeded", WorkflowServiceFactory.WorkState(status, "onFailure"));
        Assert.Equal("skipped", WorkflowServiceFactory.WorkState(status, "onSuccess"));
        Assert.Equal("succeeded", WorkflowServiceFactory.WorkState(status, "either"));
        Assert.Equal("failed", status["state"]!.GetValue<string>());
        var failed = JsonNode.Parse(await alice.GetStringAsync($"/v1/workflows/{id}/jobs?state=failed", Ct))!;
        Assert.Equal("exit code 3", failed["jobs"]![0]!["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task Loop_RunsAgainWhileItsConditionHolds_UpToItsBound()
    {
        using var alice = _service.ClientFor("alice");
        var counter = Path.Combine(_root, "counter");
        var id = await WorkflowServiceFactory.SubmitOkAsync(alice, $$"""
            {
              "works": [
                { "name": "grow", "action": "command",
                  "command": { "argv": ["sh", "-c", "echo x >> {{counter}}; n=$(wc -l < {{counter}}); if [ $n -lt 3 ]; then echo more=yes; else echo more=no; fi > $SHOPPE_OUTPUTS"] },
                  "loop": { "max": 10, "while": { "output": "grow.more", "equalTo": "yes" } } },
                { "name": "bounded", "action": "noop", "loop": { "max": 2, "while": { "work": "bounded", "is": "succeeded" } } }
              ]
            }
            """);
        var status = await WorkflowServiceFactory.WaitAsync(alice, id);

        Assert.Equal("succeeded", status["state"]!.GetValue<string>());
        Assert.Equal(3, (await File.ReadAllLinesAsync(counter, Ct)).Length);
        Assert.Equal(3, status["works"]![0]!["run"]!.GetValue<int>());
        Assert.Equal(2, status["works"]![1]!["run"]!.GetValue<int>());
    }

    [Fact]
    public async Task Retry_RunsFailedJobsAndWhatWaitedForThem()
    {
        using var alice = _service.ClientFor("alice");
        var flag = Path.Combine(_root, "flag");
        var id = await WorkflowServiceFactory.SubmitOkAsync(alice, $$"""
            {
              "works": [ { "name": "w", "action": "command", "attempts": 1, "command": { "argv": ["sh", "-c", "test -f {{flag}}"] } } ],
              "jobs": [ { "name": "first", "work": "w" }, { "name": "second", "work": "w", "after": ["first"] } ]
            }
            """);
        var failed = await WorkflowServiceFactory.WaitAsync(alice, id);
        Assert.Equal("failed", failed["state"]!.GetValue<string>());
        Assert.Equal(1, WorkflowServiceFactory.Count(failed, "w", "skipped"));

        await File.WriteAllTextAsync(flag, "now it passes", Ct);
        using var retry = await alice.PostAsync($"/v1/workflows/{id}/retry", null, Ct);
        Assert.Equal(HttpStatusCode.OK, retry.StatusCode);
        var status = await WorkflowServiceFactory.WaitAsync(alice, id);
        Assert.Equal("succeeded", status["state"]!.GetValue<string>());
        Assert.Equal(2, WorkflowServiceFactory.Count(status, "w", "succeeded"));
    }

    [Fact]
    public async Task Suspend_StartsNothing_ResumeGoesOn_AbortStopsRunningJobs()
    {
        using var alice = _service.ClientFor("alice");
        var id = await WorkflowServiceFactory.SubmitOkAsync(alice, """
            {
              "works": [
                { "name": "long", "action": "command", "command": { "argv": ["sleep", "60"] } },
                { "name": "later", "action": "noop", "after": ["long"] }
              ]
            }
            """);
        await Poll.UntilAsync(async () => WorkflowServiceFactory.Count(JsonNode.Parse(await alice.GetStringAsync($"/v1/workflows/{id}", Ct))!, "long", "running") == 1,
            TimeSpan.FromSeconds(30), "the long job to run", Ct);
        using (var suspend = await alice.PostAsync($"/v1/workflows/{id}/suspend", null, Ct))
        {
            Assert.Equal("suspended", (await WorkflowServiceFactory.JsonAsync(suspend))["state"]!.GetValue<string>());
        }

        using (var resume = await alice.PostAsync($"/v1/workflows/{id}/resume", null, Ct))
        {
            Assert.Equal("running", (await WorkflowServiceFactory.JsonAsync(resume))["state"]!.GetValue<string>());
        }

        using (var abort = await alice.PostAsync($"/v1/workflows/{id}/abort", null, Ct))
        {
            Assert.Equal(HttpStatusCode.OK, abort.StatusCode);
        }

        var status = await WorkflowServiceFactory.WaitAsync(alice, id);
        Assert.Equal("aborted", status["state"]!.GetValue<string>());
        Assert.Equal(1, WorkflowServiceFactory.Count(status, "long", "aborted"));
        // The pilot was told to stop the sleep: no sleep 60 is left running.
        await Poll.UntilAsync(() => !System.Diagnostics.Process.GetProcessesByName("sleep").Any(IsOurs),
            TimeSpan.FromSeconds(30), "the aborted job's process to end", Ct);
    }

    private static bool IsOurs(System.Diagnostics.Process process)
    {
        try
        {
            return File.ReadAllText($"/proc/{process.Id}/cmdline").Replace('\0', ' ').Trim() == "sleep 60";
        }
        catch (IOException)
        {
            return false;
        }
    }

    [Fact]
    public async Task Carousel_JobsAreMadeOnlyFromArrivedFiles_OutputClosesWhenAllAreProcessed()
    {
        using var alice = _service.ClientFor("alice");
        var seen = Path.Combine(_root, "seen");
        var id = await WorkflowServiceFactory.SubmitOkAsync(alice, $$"""
            {
              "collections": [ { "name": "raw", "files": ["f1"] } ],
              "works": [
                { "name": "process", "action": "command", "forEach": { "collection": "raw", "filesPerJob": 2 },
                  "command": { "argv": ["sh", "-c", "echo ${files} >> {{seen}}"] } },
                { "name": "merge", "action": "noop", "after": ["process"] }
              ]
            }
            """);
        using (var more = await alice.PostAsJsonAsync($"/v1/workflows/{id}/collections/raw/files", new { files = new[] { "f2", "f3" } }, Ct))
        {
            Assert.Equal(HttpStatusCode.OK, more.StatusCode);
        }

        await Poll.UntilAsync(() => File.Exists(seen) && File.ReadAllLines(seen).Length == 1, TimeSpan.FromSeconds(30), "the first pair to be processed", Ct);
        var open = JsonNode.Parse(await alice.GetStringAsync($"/v1/workflows/{id}", Ct))!;
        Assert.Equal("running", open["state"]!.GetValue<string>());
        Assert.Equal(3, open["collections"]![0]!["arrived"]!.GetValue<long>());
        Assert.False(open["collections"]![0]!["inputClosed"]!.GetValue<bool>());

        using (var close = await alice.PostAsync($"/v1/workflows/{id}/collections/raw/close", null, Ct))
        {
            Assert.Equal(HttpStatusCode.OK, close.StatusCode);
        }

        var status = await WorkflowServiceFactory.WaitAsync(alice, id);
        Assert.Equal("succeeded", status["state"]!.GetValue<string>());
        Assert.Equal(["f1 f2", "f3"], await File.ReadAllLinesAsync(seen, Ct));
        var collection = status["collections"]![0]!;
        Assert.Equal(3, collection["processed"]!.GetValue<long>());
        Assert.True(collection["outputClosed"]!.GetValue<bool>());
        using var closed = await alice.PostAsJsonAsync($"/v1/workflows/{id}/collections/raw/files", new { files = new[] { "late" } }, Ct);
        Assert.Equal(HttpStatusCode.Conflict, closed.StatusCode);
    }

    [Fact]
    public async Task Carousel_WatchedFolder_FilesArriveWhenWhole_AndTheInputClosesOnItsTimeout()
    {
        using var alice = _service.ClientFor("alice");
        var folder = Directory.CreateDirectory(Path.Combine(_root, "incoming")).FullName;
        var seen = Path.Combine(_root, "seen-folder");
        var id = await WorkflowServiceFactory.SubmitOkAsync(alice, $$"""
            {
              "collections": [ { "name": "landed", "folder": "{{folder}}", "closeAfterSeconds": 4 } ],
              "works": [ { "name": "each", "action": "command", "forEach": { "collection": "landed" },
                           "command": { "argv": ["sh", "-c", "basename ${file} >> {{seen}}"] } } ]
            }
            """);
        await File.WriteAllTextAsync(Path.Combine(folder, "a.root"), "a", Ct);
        await File.WriteAllTextAsync(Path.Combine(folder, "b.root.part"), "b, still copying", Ct);
        await File.WriteAllTextAsync(Path.Combine(folder, ".hidden"), "not data", Ct);
        await Poll.UntilAsync(() => File.Exists(seen), TimeSpan.FromSeconds(30), "the first file to be processed", Ct);
        File.Move(Path.Combine(folder, "b.root.part"), Path.Combine(folder, "b.root"));

        var status = await WorkflowServiceFactory.WaitAsync(alice, id);
        Assert.Equal("succeeded", status["state"]!.GetValue<string>());
        Assert.Equal(["a.root", "b.root"], (await File.ReadAllLinesAsync(seen, Ct)).Order());
        var collection = status["collections"]![0]!;
        Assert.Equal(2, collection["arrived"]!.GetValue<long>());
        Assert.True(collection["inputClosed"]!.GetValue<bool>());
    }

    [Fact]
    public async Task SubWorkflow_RunsAsOneJob_ItsJobsDescendFromIt()
    {
        using var alice = _service.ClientFor("alice");
        var id = await WorkflowServiceFactory.SubmitOkAsync(alice, """
            {
              "works": [
                { "name": "inner", "action": "workflow",
                  "workflow": { "parameters": { "x": "default" }, "works": [ { "name": "echo", "action": "command", "command": { "argv": ["sh", "-c", "test ${parameters.x} = given"] } } ] } },
                { "name": "after", "action": "noop", "after": ["inner"] }
              ],
              "jobs": [ { "work": "inner", "args": { "x": "given" } } ]
            }
            """);
        var status = await WorkflowServiceFactory.WaitAsync(alice, id);
        Assert.Equal("succeeded", status["state"]!.GetValue<string>());
        var child = JsonNode.Parse(await alice.GetStringAsync($"/v1/workflows/{id}:0", Ct))!;
        Assert.Equal("succeeded", child["state"]!.GetValue<string>());
    }

    [Fact]
    public async Task Parts_JobsArriveInSeveralRequests_ThenTheWorkflowStarts()
    {
        using var alice = _service.ClientFor("alice");
        var log = Path.Combine(_root, "parts.log");
        var id = await WorkflowServiceFactory.SubmitOkAsync(alice, $$"""
            {
              "parts": true,
              "works": [ { "name": "w", "action": "command", "command": { "argv": ["sh", "-c", "echo ${args.n} >> {{log}}"] } } ],
              "jobs": [ { "name": "a", "work": "w", "args": { "n": "a" } } ]
            }
            """);
        var building = JsonNode.Parse(await alice.GetStringAsync($"/v1/workflows/{id}", Ct))!;
        Assert.Equal("building", building["state"]!.GetValue<string>());

        // A later part waits for jobs of an earlier one and of itself (declared after it).
        using (var part = await alice.PostAsync($"/v1/workflows/{id}/jobs", new StringContent("""
            { "jobs": [ { "name": "c", "work": "w", "after": ["b"], "args": { "n": "c" } }, { "name": "b", "work": "w", "after": ["a"], "args": { "n": "b" } } ] }
            """, System.Text.Encoding.UTF8, "application/json"), Ct))
        {
            Assert.Equal(HttpStatusCode.OK, part.StatusCode);
        }

        // A part that names a job no part declared is refused whole.
        using (var bad = await alice.PostAsync($"/v1/workflows/{id}/jobs", new StringContent("""
            { "jobs": [ { "name": "d", "work": "w", "args": { "n": "d" } }, { "name": "e", "work": "w", "after": ["ghost"], "args": { "n": "e" } } ] }
            """, System.Text.Encoding.UTF8, "application/json"), Ct))
        {
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
            Assert.Equal("/jobs/1/after", (await WorkflowServiceFactory.JsonAsync(bad))["element"]!.GetValue<string>());
        }

        await Task.Delay(500, Ct);
        Assert.False(File.Exists(log)); // Nothing runs before the start.
        using (var start = await alice.PostAsync($"/v1/workflows/{id}/start", null, Ct))
        {
            Assert.Equal(HttpStatusCode.OK, start.StatusCode);
        }

        var status = await WorkflowServiceFactory.WaitAsync(alice, id);
        Assert.Equal("succeeded", status["state"]!.GetValue<string>());
        Assert.Equal(3, status["jobs"]!["total"]!.GetValue<long>());
        Assert.Equal(["a", "b", "c"], await File.ReadAllLinesAsync(log, Ct));
        using var again = await alice.PostAsync($"/v1/workflows/{id}/jobs", new StringContent("""{ "jobs": [] }""", System.Text.Encoding.UTF8, "application/json"), Ct);
        Assert.Equal(HttpStatusCode.BadRequest, again.StatusCode);
    }

    [Fact]
    public async Task Workflows_AreTheirOwners()
    {
        using var alice = _service.ClientFor("alice");
        using var bob = _service.ClientFor("bob");
        using var anonymous = _service.CreateClient();
        var id = await WorkflowServiceFactory.SubmitOkAsync(alice, """{ "works": [ { "name": "n", "action": "noop" } ] }""");

        using (var other = await bob.GetAsync($"/v1/workflows/{id}", Ct))
        {
            Assert.Equal(HttpStatusCode.NotFound, other.StatusCode);
        }

        using (var abort = await bob.PostAsync($"/v1/workflows/{id}/abort", null, Ct))
        {
            Assert.Equal(HttpStatusCode.NotFound, abort.StatusCode);
        }

        using (var none = await anonymous.GetAsync($"/v1/workflows/{id}", Ct))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
        }

        using (var pilot = await anonymous.PostAsJsonAsync("/v1/pilots/exchange", new { pilot = "p", want = 1, running = Array.Empty<object>(), results = Array.Empty<object>() }, Ct))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, pilot.StatusCode);
        }

        Assert.DoesNotContain(id, await bob.GetStringAsync("/v1/workflows", Ct), StringComparison.Ordinal);
        Assert.Contains(id, await alice.GetStringAsync("/v1/workflows", Ct), StringComparison.Ordinal);
    }
}
