using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using RouteIQ.Contracts;
using RouteIQ.RouterTrainer;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace RouteIQ.GatewayAdmin.Specs;

/// <summary>
/// Parses one spec file (YAML or JSON) into trainers, or into errors that name the file, line
/// and column. JSON is read through the YAML parser too (JSON is YAML's flow style), so both
/// formats report positions the same way; JSON syntax is checked by the JSON reader first.
/// </summary>
public static partial class TrainerSpecParser
{
    private static readonly HashSet<string> KnownKeys =
    [
        "trainer_image", "image_options", "serve_image", "serve_image_options", "timeout", "gpus", "env",
        "model_name", "command", "serve_command", "dataset", "auto_roll", "resources", "promotion",
        "continuous",
    ];

    public sealed record Result(IReadOnlyList<TrainerSpec> Trainers, IReadOnlyList<SpecLoadError> Errors);

    /// <summary>Expands <c>${VAR}</c> and <c>${VAR:-default}</c>; an unset variable without a default stays as written.</summary>
    public static string ExpandVariables(string text, Func<string, string?> environment)
        => VariablePattern().Replace(text, m =>
        {
            var value = environment(m.Groups["name"].Value);
            if (!string.IsNullOrEmpty(value))
            {
                return value;
            }
            return m.Groups["default"].Success ? m.Groups["default"].Value : (value ?? m.Value);
        });

    public static Result Parse(string file, string text, Func<string, string?> environment)
    {
        var errors = new List<SpecLoadError>();
        var expanded = ExpandVariables(text, environment);
        if (file.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                using var _ = JsonDocument.Parse(expanded);
            }
            catch (JsonException ex)
            {
                var reason = ex.Message.Split(" LineNumber:")[0].Trim();
                return new Result([], [new SpecLoadError(file, (int)(ex.LineNumber ?? 0) + 1, (int)(ex.BytePositionInLine ?? 0) + 1, reason)]);
            }
            // YAML forbids tabs as indentation; in JSON they are only whitespace between tokens.
            expanded = expanded.Replace('\t', ' ');
        }

        var stream = new YamlStream();
        var parser = new Parser(new StringReader(expanded));
        try
        {
            stream.Load(parser);
        }
        catch (YamlException ex)
        {
            var reason = (ex.InnerException?.Message ?? ex.Message).Trim();
            return new Result([], [new SpecLoadError(file, (int)ex.Start.Line, (int)ex.Start.Column, reason)]);
        }
        catch (InvalidOperationException)
        {
            // The scanner gives up on some malformed input without a mark: report where the parser stood.
            var mark = parser.Current?.End ?? Mark.Empty;
            return new Result([], [new SpecLoadError(file, (int)mark.Line, (int)mark.Column, "malformed YAML (unterminated flow collection or quoted text?)")]);
        }

        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is YamlScalarNode { Value: null or "" })
        {
            return new Result([], []);
        }
        if (stream.Documents.Count > 1)
        {
            errors.Add(Error(file, stream.Documents[1].RootNode, "only one document per spec file"));
        }
        if (stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            errors.Add(Error(file, stream.Documents[0].RootNode, "the top level must be a map of trainer name → spec"));
            return new Result([], errors);
        }

        var trainers = new List<TrainerSpec>();
        foreach (var (keyNode, valueNode) in root.Children)
        {
            var name = ((YamlScalarNode)keyNode).Value ?? "";
            if (string.IsNullOrWhiteSpace(name))
            {
                errors.Add(Error(file, keyNode, "empty trainer name"));
                continue;
            }
            if (valueNode is not YamlMappingNode map)
            {
                errors.Add(Error(file, valueNode, $"trainer '{name}': its spec must be a map"));
                continue;
            }
            var before = errors.Count;
            var spec = ParseTrainer(file, name, (int)keyNode.Start.Line, map, errors);
            if (errors.Count == before)
            {
                trainers.Add(spec);
            }
        }
        return new Result(trainers, errors);
    }

    private static TrainerSpec ParseTrainer(string file, string name, int line, YamlMappingNode map, List<SpecLoadError> errors)
    {
        var spec = new TrainerSpec { Name = name, SourceFile = file, Line = line };
        YamlNode? envNode = null;
        foreach (var (keyNode, value) in map.Children)
        {
            var key = (keyNode as YamlScalarNode)?.Value ?? "";
            var where = $"trainer '{name}': {key}";
            void Fail(YamlNode node, string reason) => errors.Add(Error(file, node, $"{where}: {reason}"));
            switch (key)
            {
                case "trainer_image":
                    spec = spec with { TrainerImage = String(value, Fail) };
                    break;
                case "serve_image":
                    spec = spec with { ServeImage = String(value, Fail) };
                    break;
                case "model_name":
                    spec = spec with { ModelName = String(value, Fail) };
                    break;
                case "dataset":
                    spec = spec with { Dataset = String(value, Fail) };
                    break;
                case "image_options":
                    spec = spec with { ImageOptions = StringMap(value, Fail, allowEmpty: false) };
                    break;
                case "serve_image_options":
                    spec = spec with { ServeImageOptions = StringMap(value, Fail, allowEmpty: false) };
                    break;
                case "env":
                    envNode = value;
                    spec = spec with { Env = EnvMap(value, Fail) };
                    break;
                case "timeout":
                    if (Scalar(value, Fail) is { } t)
                    {
                        if (int.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) && seconds is >= 1 and <= 86400)
                        {
                            spec = spec with { TimeoutSeconds = seconds };
                        }
                        else
                        {
                            Fail(value, $"must be a whole number of seconds in 1..86400, not '{t}'");
                        }
                    }
                    break;
                case "gpus":
                    if (Scalar(value, Fail) is { } g)
                    {
                        if (ParseGpus(g) is { } gpus)
                        {
                            spec = spec with { Gpus = gpus };
                        }
                        else
                        {
                            Fail(value, $"must be \"all\", a non-negative integer or a numeric string, not '{g}'");
                        }
                    }
                    break;
                case "auto_roll":
                    if (Scalar(value, Fail) is { } a)
                    {
                        if (ParseBool(a) is { } roll)
                        {
                            spec = spec with { AutoRoll = roll };
                        }
                        else
                        {
                            Fail(value, $"must be true or false, not '{a}'");
                        }
                    }
                    break;
                case "command":
                    spec = spec with { Command = Argv(value, Fail) };
                    break;
                case "serve_command":
                    spec = spec with { ServeCommand = Argv(value, Fail) };
                    break;
                case "resources":
                    spec = spec with { Resources = Resources(value, Fail) };
                    break;
                case "promotion":
                    var (promotion, problem) = Api.RolloutsPromotion.Parse(value);
                    if (problem is { } p)
                    {
                        Fail(value, $"{p.Field}: {p.Problem}");
                    }
                    spec = spec with { Promotion = promotion };
                    break;
                case "continuous":
                    spec = spec with { Continuous = Continuous.ContinuousSpecParser.Parse(value, Fail) };
                    break;
                default:
                    var known = string.Join(", ", KnownKeys.Order(StringComparer.Ordinal));
                    errors.Add(Error(file, keyNode, $"trainer '{name}': unknown key '{key}' (known: {known})"));
                    break;
            }
        }
        // What the built-in trainer would refuse at start (exit 2: a miscased or misspelt setting
        // such as MF_FACTORS) is refused when the spec loads, with its position.
        if (envNode is not null && spec.TrainerImage is { } image && TrainRequestResolver.IsBuiltInTrainer(image, spec.Command))
        {
            foreach (var setting in spec.Env.Keys.Where(EnvironmentNames.IsValid))
            {
                if (TrainerSettingNames.Problem(setting) is { } problem)
                {
                    var at = envNode is YamlMappingNode env && env.Children.Keys.FirstOrDefault(k => (k as YamlScalarNode)?.Value == setting) is { } keyNode ? keyNode : envNode;
                    errors.Add(Error(file, at, $"trainer '{name}': env: {problem}"));
                }
            }
        }
        return spec;
    }

    public static int? ParseGpus(string text)
    {
        var t = text.Trim();
        if (t.Equals("all", StringComparison.OrdinalIgnoreCase))
        {
            return -1;
        }
        return int.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : null;
    }

    private static bool? ParseBool(string text) => text.Trim().ToLowerInvariant() switch
    {
        "true" or "yes" or "on" => true,
        "false" or "no" or "off" => false,
        _ => null,
    };

    private static string? Scalar(YamlNode node, Action<YamlNode, string> fail)
    {
        if (node is YamlScalarNode s)
        {
            return s.Value;
        }
        fail(node, "must be a single value, not a list or map");
        return null;
    }

    private static string? String(YamlNode node, Action<YamlNode, string> fail)
    {
        var value = Scalar(node, fail);
        if (value is null)
        {
            return null;
        }
        if (value.Trim().Length == 0)
        {
            fail(node, "must not be empty");
            return null;
        }
        return value.Trim();
    }

    private static Dictionary<string, string> StringMap(YamlNode node, Action<YamlNode, string> fail, bool allowEmpty)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (node is YamlScalarNode { Value: null or "" })
        {
            return result;
        }
        if (node is not YamlMappingNode map)
        {
            fail(node, "must be a map");
            return result;
        }
        foreach (var (k, v) in map.Children)
        {
            var key = (k as YamlScalarNode)?.Value ?? "";
            if (v is not YamlScalarNode { Value: { } value } || (!allowEmpty && value.Trim().Length == 0))
            {
                fail(v, $"'{key}' must be a non-empty text value");
                continue;
            }
            result[key] = allowEmpty ? value : value.Trim();
        }
        return result;
    }

    private static Dictionary<string, string> EnvMap(YamlNode node, Action<YamlNode, string> fail)
    {
        var result = StringMap(node, fail, allowEmpty: true);
        foreach (var key in result.Keys)
        {
            if (!EnvironmentNames.IsValid(key))
            {
                fail(node, $"'{key}' is not a valid environment variable name ([A-Za-z_][A-Za-z0-9_]*)");
            }
        }
        return result;
    }

    private static List<string>? Argv(YamlNode node, Action<YamlNode, string> fail)
    {
        if (node is not YamlSequenceNode seq || seq.Children.Count == 0)
        {
            fail(node, "must be a non-empty list of arguments (argv)");
            return null;
        }
        var argv = new List<string>();
        foreach (var item in seq.Children)
        {
            if (item is YamlScalarNode { Value: { } arg })
            {
                argv.Add(arg);
            }
            else
            {
                fail(item, "every argument must be a text value");
            }
        }
        return argv;
    }

    private static ResourceLimits? Resources(YamlNode node, Action<YamlNode, string> fail)
    {
        if (node is not YamlMappingNode map)
        {
            fail(node, "must be a map with memory and/or cpus");
            return null;
        }
        var limits = new ResourceLimits();
        foreach (var (k, v) in map.Children)
        {
            var key = (k as YamlScalarNode)?.Value;
            var text = Scalar(v, fail);
            if (text is null)
            {
                continue;
            }
            switch (key)
            {
                case "memory" when ParseMemory(text) is { } bytes:
                    limits = limits with { MemoryBytes = bytes };
                    break;
                case "memory":
                    fail(v, $"memory must be bytes or a size like 512m, 8g, not '{text}'");
                    break;
                case "cpus" when double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var cpus) && cpus > 0:
                    limits = limits with { Cpus = cpus };
                    break;
                case "cpus":
                    fail(v, $"cpus must be a positive number, not '{text}'");
                    break;
                default:
                    fail(k, $"unknown key '{key}' (known: cpus, memory)");
                    break;
            }
        }
        return limits;
    }

    /// <summary>Docker's size notation: <c>1024</c>, <c>512k</c>, <c>512m</c>, <c>8g</c> (also <c>8Gi</c>, <c>8GB</c>).</summary>
    public static long? ParseMemory(string text)
    {
        var m = MemoryPattern().Match(text.Trim());
        if (!m.Success || !double.TryParse(m.Groups["n"].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) || n <= 0)
        {
            return null;
        }
        var multiplier = char.ToLowerInvariant(m.Groups["unit"].Value.FirstOrDefault()) switch
        {
            'k' => 1L << 10,
            'm' => 1L << 20,
            'g' => 1L << 30,
            't' => 1L << 40,
            _ => 1L,
        };
        return (long)(n * multiplier);
    }

    private static SpecLoadError Error(string file, YamlNode node, string reason)
        => new(file, (int)node.Start.Line, (int)node.Start.Column, reason);

    [GeneratedRegex(@"\$\{(?<name>[A-Za-z_][A-Za-z0-9_]*)(:-(?<default>[^}]*))?\}")]
    private static partial Regex VariablePattern();

    [GeneratedRegex(@"^(?<n>[0-9]+(\.[0-9]+)?)\s*(?<unit>[bkmgtBKMGT]?)(i?[bB]?)\z")]
    private static partial Regex MemoryPattern();
}

public static partial class EnvironmentNames
{
    public static bool IsValid(string name) => NamePattern().IsMatch(name);

    /// <summary>Names that look secret: their values never leave the server.</summary>
    public static bool LooksSecret(string name) => ServiceDefaults.SecretRedaction.LooksSecretName(name);

    public const string Redacted = ServiceDefaults.SecretRedaction.Mask;

    /// <summary>As shown: secret-looking names masked, other values redacted by value (credentials in URLs, password= pairs, tokens).</summary>
    public static Dictionary<string, string?> Redact<T>(IEnumerable<KeyValuePair<string, T>> env)
        => ServiceDefaults.SecretRedaction.RedactEnvironment(env);

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]*\z")]
    private static partial Regex NamePattern();
}
