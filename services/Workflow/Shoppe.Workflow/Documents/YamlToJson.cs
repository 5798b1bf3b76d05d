using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Shoppe.Workflow.Documents;

/// <summary>
/// A YAML workflow document turned into JSON event by event (YamlDotNet's parser, never its object model), into a
/// temporary file that <see cref="DocumentReader"/> then streams: memory stays bounded for a million jobs. Plain
/// scalars that read as numbers, booleans or null become those; anchors and aliases are refused (an alias bomb is a
/// gigabyte from a kilobyte).
/// </summary>
internal static partial class YamlToJson
{
    /// <summary>Converts <paramref name="yaml"/>; the returned stream is positioned at 0 and deletes its file when disposed.</summary>
    public static async Task<Stream> ConvertAsync(Stream yaml, string temporaryFolder, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(temporaryFolder);
        var output = new FileStream(Path.Combine(temporaryFolder, $"yaml-{Guid.NewGuid():N}.json"), FileMode.CreateNew, FileAccess.ReadWrite,
            FileShare.None, 1 << 16, FileOptions.DeleteOnClose | FileOptions.Asynchronous);
        try
        {
            using var text = new StreamReader(yaml, leaveOpen: true); // already read within the limit (WorkflowsApi spools it through ReadLimitStream)
            await using (var writer = new Utf8JsonWriter(output, new JsonWriterOptions { SkipValidation = false, MaxDepth = 64 }))
            {
                var parser = new Parser(text);
                var open = new Stack<Place>();
                var documents = 0;
                while (parser.MoveNext())
                {
                    switch (parser.Current)
                    {
                        case DocumentStart:
                            if (++documents > 1)
                            {
                                throw new WorkflowDocumentException("", "A YAML workflow is one document (no second '---').");
                            }

                            break;
                        case AnchorAlias alias:
                            throw new WorkflowDocumentException("", $"YAML aliases (*{alias.Value}) are not accepted (line {alias.Start.Line}).");
                        case NodeEvent { Anchor.IsEmpty: false } anchored:
                            throw new WorkflowDocumentException("", $"YAML anchors (&{anchored.Anchor.Value}) are not accepted (line {anchored.Start.Line}).");
                        case MappingStart:
                            writer.WriteStartObject();
                            open.Push(Place.Key);
                            break;
                        case MappingEnd:
                            open.Pop();
                            writer.WriteEndObject();
                            ValueDone(open);
                            break;
                        case SequenceStart:
                            writer.WriteStartArray();
                            open.Push(Place.Item);
                            break;
                        case SequenceEnd:
                            open.Pop();
                            writer.WriteEndArray();
                            ValueDone(open);
                            break;
                        case Scalar scalar when open.Count > 0 && open.Peek() == Place.Key:
                            writer.WritePropertyName(scalar.Value);
                            open.Pop();
                            open.Push(Place.Value);
                            break;
                        case Scalar scalar:
                            WriteScalar(writer, scalar);
                            ValueDone(open);
                            break;
                    }

                    if (writer.BytesPending > 1 << 16)
                    {
                        await writer.FlushAsync(cancellationToken);
                    }
                }
            }

            output.Position = 0;
            return output;
        }
        catch (YamlException ex)
        {
            await output.DisposeAsync();
            throw new WorkflowDocumentException("", $"Not valid YAML (line {ex.Start.Line}): {ex.Message}");
        }
        catch
        {
            await output.DisposeAsync();
            throw;
        }
    }

    private enum Place
    {
        Key,
        Value,
        Item,
    }

    /// <summary>After a value inside a mapping, the next scalar is a key again.</summary>
    private static void ValueDone(Stack<Place> open)
    {
        if (open.Count > 0 && open.Peek() == Place.Value)
        {
            open.Pop();
            open.Push(Place.Key);
        }
    }

    private static void WriteScalar(Utf8JsonWriter writer, Scalar scalar)
    {
        var value = scalar.Value;
        if (scalar.Style is ScalarStyle.Plain)
        {
            if (value is "" or "~" or "null" or "Null" or "NULL")
            {
                writer.WriteNullValue();
                return;
            }

            if (value is "true" or "True" or "TRUE" or "false" or "False" or "FALSE")
            {
                writer.WriteBooleanValue(value[0] is 't' or 'T');
                return;
            }

            if (NumberPattern().IsMatch(value) && double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out _))
            {
                writer.WriteRawValue(value.TrimStart('+'));
                return;
            }
        }

        writer.WriteStringValue(value);
    }

    [GeneratedRegex(@"^[-+]?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$")]
    private static partial Regex NumberPattern();
}
