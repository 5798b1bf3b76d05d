using System.Net;

namespace Shoppe.Workflow.Tests;

/// <summary>Documents that cannot run are 400 problems naming the element at fault, and leave nothing behind.</summary>
public sealed class DocumentErrorTests : IAsyncLifetime
{
    private readonly string _root = Directory.CreateTempSubdirectory("shoppe-workflow-").FullName;
    private WorkflowServiceFactory _service = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public ValueTask InitializeAsync()
    {
        _service = new WorkflowServiceFactory(_root, new Dictionary<string, string?> { ["Workflow:MaxJobs"] = "100" });
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await _service.DisposeAsync();
        await TestFolders.DeleteAsync(_root);
    }

    [Theory]
    [InlineData("""{ "works": [ { "name": "w", "action": "noop" } ], "jobs": [ { "name": "a", "work": "w", "after": ["b"] }, { "name": "b", "work": "w", "after": ["a"] } ] }""", "/jobs/", "cycle")]
    [InlineData("""{ "works": [ { "name": "w", "action": "noop" } ], "jobs": [ { "name": "a", "work": "w", "after": ["ghost"] } ] }""", "/jobs/0/after", "ghost")]
    [InlineData("""{ "works": [ { "name": "w", "action": "noop" } ], "jobs": [ { "name": "a", "work": "nowork" } ] }""", "/jobs/0/work", "nowork")]
    [InlineData("""{ "works": [ { "name": "a", "action": "noop", "after": ["b"] }, { "name": "b", "action": "noop", "after": ["a"] } ] }""", "/works/", "cycle")]
    [InlineData("""{ "works": [ { "name": "w", "action": "launch" } ] }""", "/works/0/action", "launch")]
    [InlineData("""{ "works": [ { "name": "w", "action": "command", "command": { "argv": ["echo", "${parameters.nope}"] } } ] }""", "/works/0/command/argv/1", "nope")]
    [InlineData("""{ "works": [ { "name": "w", "action": "command", "command": { "argv": [] } } ] }""", "/works/0/command/argv", "argv")]
    [InlineData("""{ "works": [ { "name": "w", "action": "noop", "loop": { "max": 100000, "while": { "work": "w", "is": "succeeded" } } } ] }""", "/works/0/loop/max", "loop")]
    [InlineData("""{ "jobs": [], "works": [ { "name": "w", "action": "noop" } ] }""", "/jobs", "last member")]
    [InlineData("""{ "works": [ { "name": "w", "action": "noop", "colour": "red" } ] }""", "/works", "colour")]
    [InlineData("""{ "works": [ { "name": "w", "action": "noop" } ], "jobs": [ { "name": "a", "work": "w" }, { "name": "a", "work": "w" } ] }""", "/jobs/1/name", "twice")]
    [InlineData("""{ "works": [ { "name": "w", "action": "noop" } ] """, "", "ends early")]
    [InlineData("""{ "works": [ { "name": "a", "action": "noop", "after": ["b"] }, { "name": "b", "action": "noop" } ], "jobs": [ { "name": "x", "work": "a" }, { "name": "y", "work": "b", "after": ["x"] } ] }""", "/jobs/1/after", "neither could start")]
    [InlineData("""{ "collections": [ { "name": "c", "folder": "/etc" } ], "works": [ { "name": "w", "action": "noop" } ] }""", "/collections/0/folder", "watches no folders")]
    [InlineData("""{ "collections": [ { "name": "c" } ], "works": [ { "name": "a", "action": "noop", "forEach": { "collection": "c" } }, { "name": "b", "action": "noop", "forEach": { "collection": "c" } } ] }""", "/works/1/forEach/collection", "feeds another work")]
    public async Task Submit_BadDocument_Is400NamingTheElement_AndCreatesNothing(string document, string element, string words)
    {
        using var alice = _service.ClientFor("alice");
        using var response = await WorkflowServiceFactory.SubmitAsync(alice, document);
        var problem = await WorkflowServiceFactory.JsonAsync(response);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.StartsWith(element, problem["element"]?.GetValue<string>() ?? "", StringComparison.Ordinal);
        Assert.Contains(words, problem["detail"]!.GetValue<string>(), StringComparison.OrdinalIgnoreCase);
        Assert.Equal("[]", await alice.GetStringAsync("/v1/workflows", Ct));
    }

    [Fact]
    public async Task Submit_OverTheJobLimit_Is400()
    {
        using var alice = _service.ClientFor("alice");
        var jobs = string.Join(",", Enumerable.Range(0, 101).Select(i => $$"""{ "work": "w" }"""));
        using var response = await WorkflowServiceFactory.SubmitAsync(alice, $$"""{ "works": [ { "name": "w", "action": "noop" } ], "jobs": [{{jobs}}] }""");
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("at most 100 jobs", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal("[]", await alice.GetStringAsync("/v1/workflows", Ct));
    }

    [Fact]
    public async Task Submit_YamlAlias_IsRefused()
    {
        using var alice = _service.ClientFor("alice");
        using var response = await WorkflowServiceFactory.SubmitAsync(alice, "works: &w\n  - name: a\n    action: noop\nmore: *w\n", "application/yaml");
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("anchors", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }
}
