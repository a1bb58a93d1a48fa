using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace RouteIQ.Cli;

/// <summary>
/// Tables for people, JSON for scripts (<c>--json</c>). Tables are plain text: on a terminal they
/// fit its width by shortening free-text columns (never ids, never by wrapping); in a pipe rows
/// are never cut. <c>--wide</c> adds columns and cuts nothing.
/// </summary>
public sealed class Output(bool json, IAnsiConsole console, bool wide = false, int? width = null, TextWriter? writer = null)
{
    /// <summary>Indented, and only what JSON requires escaped (<c>+</c>, <c>&lt;</c>, non-ASCII stay as they are).</summary>
    public static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static readonly JsonSerializerOptions Compact = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private readonly TextWriter _out = writer ?? System.Console.Out;

    public bool Json => json;

    public bool Wide => wide;

    public IAnsiConsole Console => console;

    /// <summary>The terminal's width; null in a pipe or a file (nothing is cut there).</summary>
    public static int? TerminalWidth()
    {
        if (System.Console.IsOutputRedirected)
        {
            return null;
        }
        try
        {
            return System.Console.WindowWidth is > 20 and var w ? w : 80;
        }
        catch (IOException)
        {
            return 80;
        }
    }

    public static string ToJson(JsonNode? node) => node?.ToJsonString(JsonOptions) ?? "null";

    public void WriteJson(JsonNode? node) => _out.WriteLine(ToJson(node));

    /// <summary>Writes an API answer: <paramref name="view"/> picks the columns of a list (see <see cref="TableViews"/>).</summary>
    public void Write(JsonNode? node, TableView? view = null)
    {
        if (json)
        {
            WriteJson(node);
            return;
        }
        switch (node)
        {
            case JsonArray array:
                WriteList(array, view);
                break;
            case JsonObject obj when obj.Count == 1 && obj.First().Value is JsonArray inner:
                WriteList(inner, view ?? TableViews.For(obj.First().Key));
                break;
            case JsonObject obj:
                WriteFields(obj);
                break;
            default:
                _out.WriteLine(node is JsonValue ? Text(node) : ToJson(node));
                break;
        }
    }

    public void WriteList(JsonArray array, TableView? view)
    {
        var rows = array.OfType<JsonObject>().ToList();
        if (rows.Count == 0)
        {
            _out.WriteLine("(none)");
            return;
        }
        view ??= TableView.Generic(rows);
        var columns = view.Columns.Where(c => wide || !c.WideOnly).ToList();
        var cells = rows.Select(r => columns.Select(c => Clean(c.Value(r))).ToArray()).ToList();
        _out.Write(TextTable.Render(columns.Select(c => (c.Header, c.IsId)).ToList(), cells, wide ? null : width));
    }

    /// <summary>One document as <c>field  value</c> lines; nested values as compact JSON, never cut.</summary>
    public void WriteFields(JsonObject obj)
    {
        var pad = obj.Count == 0 ? 0 : obj.Max(p => p.Key.Length);
        foreach (var (key, value) in obj)
        {
            _out.WriteLine($"{key.PadRight(pad)}  {Text(value)}");
        }
    }

    public void Line(string text)
    {
        if (!json)
        {
            _out.WriteLine(text);
        }
    }

    public void Info(string markup)
    {
        if (!json)
        {
            console.MarkupLine(markup);
        }
    }

    public static void Error(string message) => System.Console.Error.WriteLine($"routeiq: {message}");

    /// <summary>A JSON value as one line of text: strings bare, times in UTC to the second, the rest as compact JSON.</summary>
    public static string Text(JsonNode? value) => value switch
    {
        null => "",
        JsonValue v when v.GetValueKind() == JsonValueKind.String => String(v),
        _ => value.ToJsonString(Compact),
    };

    public static string Time(JsonNode? value)
        => value is JsonValue v && v.GetValueKind() == JsonValueKind.String
           && DateTimeOffset.TryParse(String(v), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t)
            ? t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)
            : Text(value);

    /// <summary>Month, day, hour and minute (UTC): enough to tell jobs apart in a narrow table.</summary>
    public static string ShortTime(JsonNode? value)
        => value is JsonValue v && v.GetValueKind() == JsonValueKind.String
           && DateTimeOffset.TryParse(String(v), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t)
            ? t.UtcDateTime.ToString("MM-dd HH:mm", CultureInfo.InvariantCulture)
            : Text(value);

    /// <summary>A JSON string's text, also for values built from a Guid or a DateTimeOffset.</summary>
    private static string String(JsonValue value)
        => value.TryGetValue<string>(out var text) ? text : JsonSerializer.Deserialize<string>(value.ToJsonString()) ?? "";

    private static string Clean(string text) => text.ReplaceLineEndings(" ");
}

/// <summary>Plain-text table: columns two spaces apart, no borders, no wrapping.</summary>
public static class TextTable
{
    private const int MinShrunk = 5;

    /// <summary>
    /// Renders rows under headers. With a <paramref name="width"/>, free-text columns are shortened
    /// (with "…"), widest first, until the row fits; id columns are never shortened.
    /// </summary>
    public static string Render(IReadOnlyList<(string Header, bool IsId)> columns, IReadOnlyList<string[]> rows, int? width)
    {
        var widths = columns.Select((c, i) => Math.Max(c.Header.Length, rows.Count == 0 ? 0 : rows.Max(r => r[i].Length))).ToArray();
        if (width is { } max)
        {
            while (widths.Sum() + 2 * (widths.Length - 1) > max)
            {
                var candidates = Enumerable.Range(0, widths.Length)
                    .Where(i => !columns[i].IsId && widths[i] > Math.Max(MinShrunk, columns[i].Header.Length))
                    .ToList();
                if (candidates.Count == 0)
                {
                    break;
                }
                var widest = candidates.MaxBy(i => widths[i]);
                var excess = widths.Sum() + 2 * (widths.Length - 1) - max;
                widths[widest] = Math.Max(Math.Max(MinShrunk, columns[widest].Header.Length), widths[widest] - excess);
            }
        }
        var sb = new StringBuilder();
        void Row(IReadOnlyList<string> cells)
        {
            var line = new StringBuilder();
            for (var i = 0; i < cells.Count; i++)
            {
                var cell = cells[i].Length > widths[i] ? cells[i][..(widths[i] - 1)] + "…" : cells[i];
                line.Append(i == cells.Count - 1 ? cell : cell.PadRight(widths[i] + 2));
            }
            sb.Append(line.ToString().TrimEnd()).Append('\n');
        }
        Row(columns.Select(c => c.Header).ToArray());
        foreach (var row in rows)
        {
            Row(row);
        }
        return sb.ToString();
    }
}
