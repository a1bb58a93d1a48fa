using System.Text.Json;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace RouteIQ.Cli;

/// <summary>Tables for people, raw JSON for scripts (<c>--json</c>).</summary>
public sealed class Output(bool json, IAnsiConsole console)
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public bool Json => json;

    public IAnsiConsole Console => console;

    public void Write(JsonNode? node, string? title = null)
    {
        if (json)
        {
            System.Console.Out.WriteLine(node?.ToJsonString(Indented) ?? "null");
            return;
        }
        switch (node)
        {
            case JsonArray array when array.All(e => e is JsonObject):
                console.Write(ArrayTable(array, title));
                break;
            case JsonObject obj when obj.Count == 1 && obj.First().Value is JsonArray inner && inner.All(e => e is JsonObject):
                console.Write(ArrayTable(inner, title ?? obj.First().Key));
                break;
            case JsonObject obj:
                var table = new Table().Border(TableBorder.Rounded).AddColumn("field").AddColumn("value");
                if (title is not null)
                {
                    table.Title(title);
                }
                foreach (var (key, value) in obj)
                {
                    table.AddRow(Markup.Escape(key), Markup.Escape(Cell(value, 400)));
                }
                console.Write(table);
                break;
            default:
                console.WriteLine(node?.ToJsonString() ?? "null");
                break;
        }
    }

    public void Info(string message)
    {
        if (!json)
        {
            console.MarkupLine(message);
        }
    }

    public static void Error(string message) => System.Console.Error.WriteLine($"routeiq: {message}");

    private static Table ArrayTable(JsonArray array, string? title)
    {
        var columns = array.OfType<JsonObject>().SelectMany(o => o.Select(p => p.Key)).Distinct().Take(10).ToList();
        var table = new Table().Border(TableBorder.Rounded);
        if (title is not null)
        {
            table.Title(title);
        }
        foreach (var column in columns)
        {
            table.AddColumn(Markup.Escape(column));
        }
        if (columns.Count == 0)
        {
            table.AddColumn("(empty)");
        }
        foreach (var row in array.OfType<JsonObject>())
        {
            table.AddRow(columns.Select(c => Markup.Escape(Cell(row[c], 60))).ToArray());
        }
        return table;
    }

    private static string Cell(JsonNode? value, int max)
    {
        var text = value switch
        {
            null => "",
            JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
            _ => value.ToJsonString(),
        };
        return text.Length > max ? text[..(max - 1)] + "…" : text;
    }
}
