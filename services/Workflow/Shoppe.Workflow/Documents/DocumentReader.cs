using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Shoppe.Workflow.Documents;

/// <summary>A workflow document that cannot be accepted: the JSON pointer of the element at fault, and why.</summary>
public sealed class WorkflowDocumentException(string element, string message) : Exception(message)
{
    /// <summary>A JSON pointer (RFC 6901) into the document, e.g. <c>/jobs/41/after/0</c>.</summary>
    public string Element { get; } = element;
}

/// <summary>
/// Reads a workflow document as a stream with bounded memory: the head (name, parameters, collections, works) whole,
/// then the <c>jobs</c> array one job at a time, so a million-job document never sits in memory. <c>jobs</c> must
/// be the document's last member. Each element is read only once its last byte has arrived; the buffer grows to
/// hold one element at most, up to <see cref="MaxElementBytes"/>.
/// </summary>
internal sealed class DocumentReader(Stream stream, long maxDocumentBytes)
{
    /// <summary>The largest single element (the head's works, a collection's file list) read whole.</summary>
    public const int MaxElementBytes = 64 * 1024 * 1024;

    private byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;
    private bool _final;
    private long _read;
    private JsonReaderState _state = new(new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, MaxDepth = 64 });
    private bool _inJobs;

    /// <summary>Jobs read so far.</summary>
    public long JobCount { get; private set; }

    /// <summary>Reads up to the job list (or the end). Call once, first.</summary>
    /// <param name="cancellationToken">Stops the read.</param>
    /// <param name="part">A part of a workflow's jobs: <c>{"jobs": [...]}</c> and nothing else.</param>
    public async Task<WorkflowHead> ReadHeadAsync(CancellationToken cancellationToken, bool part = false)
    {
        var first = await NextTokenAsync(cancellationToken);
        if (first.Type != JsonTokenType.StartObject)
        {
            throw new WorkflowDocumentException("", "A workflow document is a JSON (or YAML) object.");
        }

        var head = new WorkflowHead();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (true)
        {
            var token = await NextTokenAsync(cancellationToken);
            if (token.Type == JsonTokenType.EndObject)
            {
                await ExpectEndAsync(cancellationToken);
                return head;
            }

            var name = token.Text!;
            if (!seen.Add(name))
            {
                throw new WorkflowDocumentException("/" + name, $"'{name}' appears twice.");
            }

            if (part && name != "jobs")
            {
                throw new WorkflowDocumentException("/" + name, "A part holds only 'jobs': the rest of the workflow came with its submission.");
            }

            switch (name)
            {
                case "name":
                    head = head with { Name = await ValueAsync(DocumentJsonContext.Default.String, "/name", cancellationToken) };
                    break;
                case "parts":
                    head = head with { Parts = await ValueAsync(DocumentJsonContext.Default.Boolean, "/parts", cancellationToken) };
                    break;
                case "parameters":
                    head = head with { Parameters = await ValueAsync(DocumentJsonContext.Default.DictionaryStringString, "/parameters", cancellationToken) };
                    break;
                case "collections":
                    head = head with { Collections = await ValueAsync(DocumentJsonContext.Default.ListCollectionSpec, "/collections", cancellationToken) };
                    break;
                case "works":
                    head = head with { Works = await ValueAsync(DocumentJsonContext.Default.ListWorkSpec, "/works", cancellationToken) };
                    break;
                case "jobs":
                    if (head.Works is null && !part)
                    {
                        throw new WorkflowDocumentException("/jobs", "'jobs' comes after 'works': it is read as a stream, so it is the document's last member.");
                    }

                    var open = await NextTokenAsync(cancellationToken);
                    if (open.Type != JsonTokenType.StartArray)
                    {
                        throw new WorkflowDocumentException("/jobs", "'jobs' is an array of jobs.");
                    }

                    _inJobs = true;
                    return head;
                default:
                    throw new WorkflowDocumentException("/" + name, $"'{name}' is not a member of a workflow document (name, parameters, collections, works, jobs, parts).");
            }
        }
    }

    /// <summary>The next job of the list, or null after the last (when the document must end).</summary>
    public async Task<JobSpec?> ReadJobAsync(CancellationToken cancellationToken)
    {
        if (!_inJobs)
        {
            return null;
        }

        var element = "/jobs/" + JobCount;
        while (true)
        {
            var outcome = TryReadElement(DocumentJsonContext.Default.JobSpec, element, out var job);
            if (outcome == Outcome.Value)
            {
                JobCount++;
                return job ?? throw new WorkflowDocumentException(element, "A job is an object.");
            }

            if (outcome == Outcome.End)
            {
                _inJobs = false;
                var after = await NextTokenAsync(cancellationToken);
                if (after.Type != JsonTokenType.EndObject)
                {
                    throw new WorkflowDocumentException("/" + after.Text, "'jobs' must be the document's last member (it is read as a stream).");
                }

                await ExpectEndAsync(cancellationToken);
                return null;
            }

            await FillAsync(element, cancellationToken);
        }
    }

    private async Task ExpectEndAsync(CancellationToken cancellationToken)
    {
        while (!_final)
        {
            await FillAsync("", cancellationToken);
        }

        var rest = _buffer.AsSpan(_start, _end - _start);
        if (rest.Trim(" \t\r\n"u8).Length > 0)
        {
            throw new WorkflowDocumentException("", "The document goes on after its closing brace.");
        }
    }

    private enum Outcome
    {
        More,
        Value,
        End,
    }

    private Outcome TryReadElement<T>(JsonTypeInfo<T> type, string element, out T? value)
    {
        value = default;
        var reader = new Utf8JsonReader(_buffer.AsSpan(_start, _end - _start), _final, _state);
        try
        {
            if (!reader.Read())
            {
                return Outcome.More;
            }

            if (reader.TokenType is JsonTokenType.EndArray or JsonTokenType.EndObject)
            {
                _start += (int)reader.BytesConsumed;
                _state = reader.CurrentState;
                return Outcome.End;
            }

            var probe = reader;
            if (!probe.TrySkip())
            {
                return Outcome.More;
            }

            value = JsonSerializer.Deserialize(ref reader, type);
            _start += (int)reader.BytesConsumed;
            _state = reader.CurrentState;
            return Outcome.Value;
        }
        catch (JsonException ex)
        {
            throw new WorkflowDocumentException(element + Pointer(ex.Path), Describe(ex));
        }
        catch (InvalidOperationException ex)
        {
            throw new WorkflowDocumentException(element, ex.Message);
        }
    }

    private async Task<T> ValueAsync<T>(JsonTypeInfo<T> type, string element, CancellationToken cancellationToken)
    {
        while (true)
        {
            var outcome = TryReadElement(type, element, out var value);
            if (outcome == Outcome.Value)
            {
                return value ?? throw new WorkflowDocumentException(element, "null is not a value here.");
            }

            if (outcome == Outcome.End)
            {
                throw new WorkflowDocumentException(element, "A value is missing.");
            }

            await FillAsync(element, cancellationToken);
        }
    }

    private readonly record struct Token(JsonTokenType Type, string? Text);

    private async Task<Token> NextTokenAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var reader = new Utf8JsonReader(_buffer.AsSpan(_start, _end - _start), _final, _state);
            bool read;
            try
            {
                read = reader.Read();
            }
            catch (JsonException ex)
            {
                throw new WorkflowDocumentException("", _final && reader.CurrentDepth > 0 ? "The document ends early: an object or array is not closed." : Describe(ex));
            }

            if (read)
            {
                var text = reader.TokenType is JsonTokenType.PropertyName or JsonTokenType.String ? reader.GetString() : null;
                _start += (int)reader.BytesConsumed;
                _state = reader.CurrentState;
                return new Token(reader.TokenType, text);
            }

            if (_final)
            {
                throw new WorkflowDocumentException("", "The document ends early.");
            }

            await FillAsync("", cancellationToken);
        }
    }

    private async Task FillAsync(string element, CancellationToken cancellationToken)
    {
        if (_final)
        {
            throw new WorkflowDocumentException(element, "The document ends early.");
        }

        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }

        if (_end == _buffer.Length)
        {
            if (_buffer.Length >= MaxElementBytes)
            {
                throw new WorkflowDocumentException(element, $"One element of the document is over {MaxElementBytes / (1024 * 1024)} MiB.");
            }

            System.Array.Resize(ref _buffer, _buffer.Length * 2);
        }

        var n = await stream.ReadAsync(_buffer.AsMemory(_end), cancellationToken);
        _read += n;
        if (_read > maxDocumentBytes)
        {
            throw new WorkflowDocumentException(element, $"The document is over {maxDocumentBytes / (1024 * 1024)} MiB: send its jobs in parts.");
        }

        _end += n;
        _final = n == 0;
    }

    private static string Pointer(string? path)
    {
        // System.Text.Json paths look like $.after[0] or $['a b']; a pointer reads /after/0.
        if (string.IsNullOrEmpty(path) || path == "$")
        {
            return "";
        }

        var pointer = new System.Text.StringBuilder();
        foreach (var part in path.TrimStart('$').Split(['.', '['], StringSplitOptions.RemoveEmptyEntries))
        {
            pointer.Append('/').Append(part.TrimEnd(']').Trim('\'').Replace("~", "~0", StringComparison.Ordinal).Replace("/", "~1", StringComparison.Ordinal));
        }

        return pointer.ToString();
    }

    private static string Describe(JsonException ex) =>
        ex.Message.Split(" Path:", 2)[0].Split(" LineNumber:", 2)[0].Trim()
        + (ex.LineNumber is { } line ? $" (line {line + 1})" : "");
}
