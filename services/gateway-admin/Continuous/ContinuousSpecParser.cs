using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Cronos;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace RouteIQ.GatewayAdmin.Continuous;

/// <summary>
/// Reads a trainer's <c>continuous</c> block. Every problem is reported through <c>fail</c> with
/// the field's path (<c>triggers.drift.psi: …</c>), so a spec error names the line and the field.
/// </summary>
public static partial class ContinuousSpecParser
{
    private static readonly string[] TopKeys = ["enabled", "dataset", "triggers", "cooldown_seconds", "max_running", "promote"];
    private static readonly string[] TriggerKeys = ["schedule", "new_decisions", "new_feedback", "drift", "quality_drop"];

    /// <summary>Dataset-build options passed through to telemetry-ingest (which checks their insides, naming the field).</summary>
    private static readonly string[] DatasetKeys = ["window", "test_split", "seed", "labels", "filters", "include_routing_metadata", "model_catalog", "graded_only"];

    public static ContinuousSpec? Parse(YamlNode node, Action<YamlNode, string> fail)
    {
        if (node is not YamlMappingNode map)
        {
            fail(node, "must be a map (dataset, triggers, cooldown_seconds, max_running, promote)");
            return null;
        }
        var spec = new ContinuousSpec();
        var failed = false;
        void Fail(YamlNode n, string reason)
        {
            failed = true;
            fail(n, reason);
        }
        foreach (var (k, v) in map.Children)
        {
            var key = (k as YamlScalarNode)?.Value ?? "";
            switch (key)
            {
                case "enabled":
                    spec = spec with { Enabled = Bool(v, key, Fail) ?? true };
                    break;
                case "promote":
                    spec = spec with { Promote = Bool(v, key, Fail) ?? false };
                    break;
                case "cooldown_seconds":
                    spec = spec with { CooldownSeconds = (int)(Integer(v, key, 0, 30 * 86400, Fail) ?? 3600) };
                    break;
                case "max_running":
                    spec = spec with { MaxRunning = (int)(Integer(v, key, 1, 100, Fail) ?? 1) };
                    break;
                case "dataset":
                    spec = Dataset(spec, v, Fail);
                    break;
                case "triggers":
                    spec = TriggersOf(spec, v, Fail);
                    break;
                default:
                    Fail(k, $"unknown key '{key}' (known: {string.Join(", ", TopKeys)})");
                    break;
            }
        }
        return failed ? null : spec;
    }

    private static ContinuousSpec Dataset(ContinuousSpec spec, YamlNode node, Action<YamlNode, string> fail)
    {
        if (node is not YamlMappingNode map)
        {
            fail(node, "dataset: must be a map of dataset-build options (window, test_split, seed, labels, …)");
            return spec;
        }
        var options = new JsonObject();
        foreach (var (k, v) in map.Children)
        {
            var key = (k as YamlScalarNode)?.Value ?? "";
            switch (key)
            {
                case "window":
                    if (Scalar(v, "dataset.window", fail) is { } w)
                    {
                        if (ParseWindow(w) is { } window)
                        {
                            spec = spec with { DatasetWindow = window };
                        }
                        else
                        {
                            fail(v, $"dataset.window: must be a duration like 30d, 12h, 90m or 3600s, not '{w}'");
                        }
                    }
                    break;
                case "test_split":
                    if (Number(v, "dataset.test_split", fail) is { } split)
                    {
                        if (split is >= 0 and < 1)
                        {
                            options[key] = split;
                        }
                        else
                        {
                            fail(v, $"dataset.test_split: must be in [0, 1), not {split.ToString(CultureInfo.InvariantCulture)}");
                        }
                    }
                    break;
                case "seed":
                    if (Integer(v, "dataset.seed", int.MinValue, int.MaxValue, fail) is { } seed)
                    {
                        options[key] = seed;
                    }
                    break;
                case "include_routing_metadata":
                case "graded_only":
                    if (Bool(v, $"dataset.{key}", fail) is { } flag)
                    {
                        options[key] = flag;
                    }
                    break;
                case "labels":
                case "filters":
                case "model_catalog":
                    if (v is not YamlMappingNode)
                    {
                        fail(v, $"dataset.{key}: must be a map");
                    }
                    else
                    {
                        options[key] = ToJson(v);
                    }
                    break;
                case "since" or "until" or "dataset_id":
                    fail(k, $"dataset.{key}: set by each run (use dataset.window)");
                    break;
                default:
                    fail(k, $"dataset.{key}: unknown dataset option (known: {string.Join(", ", DatasetKeys)})");
                    break;
            }
        }
        return spec with { DatasetOptionsJson = options.ToJsonString() };
    }

    private static ContinuousSpec TriggersOf(ContinuousSpec spec, YamlNode node, Action<YamlNode, string> fail)
    {
        if (node is not YamlMappingNode map)
        {
            fail(node, $"triggers: must be a map ({string.Join(", ", TriggerKeys)})");
            return spec;
        }
        foreach (var (k, v) in map.Children)
        {
            var key = (k as YamlScalarNode)?.Value ?? "";
            var field = $"triggers.{key}";
            switch (key)
            {
                case "schedule":
                    if (Scalar(v, field, fail) is { } text)
                    {
                        try
                        {
                            var format = text.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries).Length == 6 ? CronFormat.IncludeSeconds : CronFormat.Standard;
                            spec = spec with { Schedule = text.Trim(), Cron = CronExpression.Parse(text.Trim(), format) };
                        }
                        catch (CronFormatException ex)
                        {
                            fail(v, $"{field}: not a cron expression (minute hour day month weekday, UTC): {ex.Message}");
                        }
                    }
                    break;
                case "new_decisions":
                    spec = spec with { NewDecisions = Integer(v, field, 1, long.MaxValue, fail) };
                    break;
                case "new_feedback":
                    spec = spec with { NewFeedback = Integer(v, field, 1, long.MaxValue, fail) };
                    break;
                case "drift":
                    if (Pair(v, field, "psi", "min_samples", fail) is var (psi, min) && psi is not null)
                    {
                        spec = spec with { Drift = new DriftTrigger(psi.Value, min ?? 1000) };
                    }
                    break;
                case "quality_drop":
                    if (Pair(v, field, "delta", "min_samples", fail) is var (delta, samples) && delta is not null)
                    {
                        spec = spec with { QualityDrop = new QualityDropTrigger(delta.Value, samples ?? 1000) };
                    }
                    break;
                default:
                    fail(k, $"{field}: unknown trigger (known: {string.Join(", ", TriggerKeys)})");
                    break;
            }
        }
        return spec;
    }

    /// <summary><c>{psi: 0.2, min_samples: 5000}</c> / <c>{delta: 0.05, min_samples: 2000}</c>: a positive number and an optional positive count.</summary>
    private static (double? Value, long? MinSamples) Pair(YamlNode node, string field, string valueKey, string countKey, Action<YamlNode, string> fail)
    {
        if (node is not YamlMappingNode map)
        {
            fail(node, $"{field}: must be a map {{{valueKey}: number, {countKey}: count}}");
            return (null, null);
        }
        double? value = null;
        long? count = null;
        foreach (var (k, v) in map.Children)
        {
            var key = (k as YamlScalarNode)?.Value ?? "";
            if (key == valueKey)
            {
                if (Number(v, $"{field}.{key}", fail) is { } n)
                {
                    if (n > 0 && n < 100)
                    {
                        value = n;
                    }
                    else
                    {
                        fail(v, $"{field}.{key}: must be a positive number below 100, not {n.ToString(CultureInfo.InvariantCulture)}");
                    }
                }
            }
            else if (key == countKey)
            {
                count = Integer(v, $"{field}.{key}", 1, long.MaxValue, fail);
            }
            else
            {
                fail(k, $"{field}.{key}: unknown key (known: {valueKey}, {countKey})");
            }
        }
        if (value is null && map.Children.All(c => (c.Key as YamlScalarNode)?.Value != valueKey))
        {
            fail(node, $"{field}.{valueKey}: is required");
        }
        return (value, count);
    }

    public static TimeSpan? ParseWindow(string text)
    {
        var m = WindowPattern().Match(text.Trim());
        if (!m.Success || !long.TryParse(m.Groups["n"].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n <= 0 || n > 3650L * 86400)
        {
            return null;
        }
        var seconds = m.Groups["unit"].Value switch
        {
            "s" => n,
            "m" => n * 60,
            "h" => n * 3600,
            "d" => n * 86400,
            _ => n * 7 * 86400,
        };
        return seconds > 3650L * 86400 ? null : TimeSpan.FromSeconds(seconds);
    }

    private static string? Scalar(YamlNode node, string field, Action<YamlNode, string> fail)
    {
        if (node is YamlScalarNode { Value: { } value } && value.Trim().Length > 0)
        {
            return value;
        }
        fail(node, $"{field}: must be a single non-empty value");
        return null;
    }

    private static bool? Bool(YamlNode node, string field, Action<YamlNode, string> fail)
    {
        var text = Scalar(node, field, fail);
        if (text is null)
        {
            return null;
        }
        switch (text.Trim().ToLowerInvariant())
        {
            case "true" or "yes" or "on":
                return true;
            case "false" or "no" or "off":
                return false;
            default:
                fail(node, $"{field}: must be true or false, not '{text}'");
                return null;
        }
    }

    private static long? Integer(YamlNode node, string field, long min, long max, Action<YamlNode, string> fail)
    {
        var text = Scalar(node, field, fail);
        if (text is null)
        {
            return null;
        }
        if (long.TryParse(text.Trim().Replace("_", "", StringComparison.Ordinal), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max)
        {
            return n;
        }
        fail(node, max == long.MaxValue
            ? $"{field}: must be a whole number ≥ {min}, not '{text}'"
            : $"{field}: must be a whole number in {min}..{max}, not '{text}'");
        return null;
    }

    private static double? Number(YamlNode node, string field, Action<YamlNode, string> fail)
    {
        var text = Scalar(node, field, fail);
        if (text is null)
        {
            return null;
        }
        if (double.TryParse(text.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var n) && double.IsFinite(n))
        {
            return n;
        }
        fail(node, $"{field}: must be a number, not '{text}'");
        return null;
    }

    /// <summary>YAML → JSON for pass-through options: unquoted true/false/null and numbers keep their type.</summary>
    private static JsonNode? ToJson(YamlNode node) => node switch
    {
        YamlMappingNode map => new JsonObject(map.Children.Select(c => KeyValuePair.Create(((YamlScalarNode)c.Key).Value ?? "", ToJson(c.Value)))),
        YamlSequenceNode seq => new JsonArray(seq.Children.Select(ToJson).ToArray()),
        YamlScalarNode { Style: ScalarStyle.Plain, Value: "true" or "True" or "TRUE" } => JsonValue.Create(true),
        YamlScalarNode { Style: ScalarStyle.Plain, Value: "false" or "False" or "FALSE" } => JsonValue.Create(false),
        YamlScalarNode { Style: ScalarStyle.Plain, Value: null or "" or "~" or "null" } => null,
        YamlScalarNode { Style: ScalarStyle.Plain, Value: { } v } when long.TryParse(v, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l) => JsonValue.Create(l),
        YamlScalarNode { Style: ScalarStyle.Plain, Value: { } v } when double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => JsonValue.Create(d),
        YamlScalarNode s => JsonValue.Create(s.Value),
        _ => null,
    };

    [GeneratedRegex(@"^(?<n>[0-9]+)\s*(?<unit>[smhdw])\z")]
    private static partial Regex WindowPattern();
}
