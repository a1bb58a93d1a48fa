using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using RouteIQ.Contracts;
using YamlDotNet.RepresentationModel;

namespace RouteIQ.GatewayAdmin.Api;

/// <summary>
/// Reads the <c>promotion</c> block (gate, shadow, canary) of a request body or a trainer spec
/// into <see cref="Promotion"/>, refusing unknown keys and wrong types with the field named
/// (<c>promotion.canary.steps</c>), then checking the values (<see cref="Promotion.Problem"/>).
/// </summary>
public static class RolloutsPromotion
{
    private static readonly Dictionary<string, string[]> Keys = new(StringComparer.Ordinal)
    {
        ["promotion"] = ["gate", "shadow", "canary"],
        ["gate"] = ["metric", "min_delta", "max_price_ratio"],
        ["shadow"] = ["seconds", "min_requests"],
        ["canary"] = ["steps", "step_seconds", "min_requests", "max_error_rate", "max_latency_p99_ratio", "sticky", "max_step_seconds"],
    };

    /// <summary>Null block → (null, null); otherwise the promotion or (field, problem).</summary>
    public static (Promotion? Promotion, (string Field, string Problem)? Problem) Parse(JsonElement value)
    {
        if (value.ValueKind == JsonValueKind.Null)
        {
            return (null, null);
        }
        if (value.ValueKind != JsonValueKind.Object)
        {
            return (null, ("promotion", "must be an object with gate, shadow and/or canary"));
        }
        if (Unknown(value, "promotion", "promotion") is { } unknown)
        {
            return (null, unknown);
        }
        try
        {
            var promotion = new Promotion
            {
                Gate = Section(value, "gate") is { } g ? new PromotionGate
                {
                    Metric = Text(g, "promotion.gate.metric") ?? "avg_quality",
                    MinDelta = Number(g, "promotion.gate.min_delta") ?? 0,
                    MaxPriceRatio = Number(g, "promotion.gate.max_price_ratio"),
                } : null,
                Shadow = Section(value, "shadow") is { } s ? new PromotionShadow
                {
                    Seconds = Number(s, "promotion.shadow.seconds") ?? 60,
                    MinRequests = Integer(s, "promotion.shadow.min_requests") ?? 200,
                } : null,
                Canary = Section(value, "canary") is { } c ? new PromotionCanary
                {
                    Steps = Steps(c) ?? [5, 25, 50, 100],
                    StepSeconds = Number(c, "promotion.canary.step_seconds") ?? 60,
                    MinRequests = Integer(c, "promotion.canary.min_requests") ?? 200,
                    MaxErrorRate = Number(c, "promotion.canary.max_error_rate") ?? 0.01,
                    MaxLatencyP99Ratio = Number(c, "promotion.canary.max_latency_p99_ratio") ?? 2.0,
                    Sticky = Text(c, "promotion.canary.sticky") ?? "none",
                    MaxStepSeconds = Number(c, "promotion.canary.max_step_seconds"),
                } : null,
            };
            return promotion.Problem() is { } problem ? (null, problem) : (promotion, null);
        }
        catch (FieldException ex)
        {
            return (null, (ex.Field, ex.Message));
        }
    }

    /// <summary>The trainer spec's YAML block, converted to JSON and read by <see cref="Parse(JsonElement)"/>.</summary>
    public static (Promotion? Promotion, (string Field, string Problem)? Problem) Parse(YamlNode node)
    {
        using var document = JsonDocument.Parse(ToJson(node)?.ToJsonString() ?? "null");
        return Parse(document.RootElement);
    }

    private static JsonNode? ToJson(YamlNode node) => node switch
    {
        YamlMappingNode map => new JsonObject(map.Children.Select(c => KeyValuePair.Create(((YamlScalarNode)c.Key).Value ?? "", ToJson(c.Value)))),
        YamlSequenceNode list => new JsonArray(list.Children.Select(ToJson).ToArray()),
        YamlScalarNode { Value: null or "" or "~" or "null" } => null,
        YamlScalarNode scalar when scalar.Style is YamlDotNet.Core.ScalarStyle.Plain
            && double.TryParse(scalar.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) => JsonValue.Create(number),
        YamlScalarNode scalar => JsonValue.Create(scalar.Value),
        _ => null,
    };

    private sealed class FieldException(string field, string problem) : Exception(problem)
    {
        public string Field { get; } = field;
    }

    private static (string, string)? Unknown(JsonElement value, string section, string path)
    {
        foreach (var property in value.EnumerateObject())
        {
            if (!Keys[section].Contains(property.Name))
            {
                return ($"{path}.{property.Name}", $"unknown key (known: {string.Join(", ", Keys[section])})");
            }
        }
        return null;
    }

    private static JsonElement? Section(JsonElement promotion, string name)
    {
        if (!promotion.TryGetProperty(name, out var section) || section.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        if (section.ValueKind != JsonValueKind.Object)
        {
            throw new FieldException($"promotion.{name}", "must be an object");
        }
        if (Unknown(section, name, $"promotion.{name}") is { } unknown)
        {
            throw new FieldException(unknown.Item1, unknown.Item2);
        }
        return section;
    }

    private static JsonElement? Get(JsonElement section, string field)
        => section.TryGetProperty(field[(field.LastIndexOf('.') + 1)..], out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    private static double? Number(JsonElement section, string field) => Get(section, field) switch
    {
        null => null,
        { ValueKind: JsonValueKind.Number } v => v.GetDouble(),
        _ => throw new FieldException(field, "must be a number"),
    };

    private static int? Integer(JsonElement section, string field) => Get(section, field) switch
    {
        null => null,
        { ValueKind: JsonValueKind.Number } v when v.TryGetInt32(out var n) => n,
        { ValueKind: JsonValueKind.Number } v when v.TryGetDouble(out var d) && d == Math.Floor(d) && d is >= 0 and <= int.MaxValue => (int)d,
        _ => throw new FieldException(field, "must be a whole number"),
    };

    private static string? Text(JsonElement section, string field) => Get(section, field) switch
    {
        null => null,
        { ValueKind: JsonValueKind.String } v => v.GetString(),
        _ => throw new FieldException(field, "must be a string"),
    };

    private static IReadOnlyList<double>? Steps(JsonElement canary)
    {
        const string field = "promotion.canary.steps";
        if (Get(canary, field) is not { } steps)
        {
            return null;
        }
        if (steps.ValueKind != JsonValueKind.Array || steps.EnumerateArray().Any(s => s.ValueKind != JsonValueKind.Number))
        {
            throw new FieldException(field, "must be a list of percentages, e.g. [5, 25, 50, 100]");
        }
        return steps.EnumerateArray().Select(s => s.GetDouble()).ToList();
    }

    /// <summary>Whether the candidate gets traffic before the switch (the roll then answers 202 with the rollout's location when asked async).</summary>
    public static bool HasTraffic(Promotion? promotion) => promotion?.Canary is not null || promotion?.Shadow is not null;

    /// <summary>How long a synchronous roll may take beyond the candidate's start: every phase at its longest.</summary>
    public static TimeSpan LongestTraffic(Promotion? promotion)
    {
        var seconds = 0.0;
        if (promotion?.Shadow is { } shadow)
        {
            seconds += shadow.Seconds * 10;
        }
        if (promotion?.Canary is { } canary)
        {
            seconds += canary.Steps.Count * (canary.MaxStepSeconds ?? Math.Max(canary.StepSeconds * 10, 10));
        }
        return TimeSpan.FromSeconds(Math.Min(seconds, 86_400));
    }
}
