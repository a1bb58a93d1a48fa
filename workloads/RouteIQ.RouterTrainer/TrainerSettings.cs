using System.Collections;
using System.Globalization;
using RouteIQ.Routing;
using YamlDotNet.RepresentationModel;

namespace RouteIQ.RouterTrainer;

/// <summary>
/// The trainer's configuration: environment variables (the workload contract), optionally
/// preceded by <c>--router-type</c> / <c>--config file.yaml</c> in LLMRouter's shape
/// (<c>data_path</c>, <c>hparam</c>); environment variables win. Names are case-sensitive, and a
/// name that looks like a setting but is none (<c>MF_FACTORS</c>, <c>k</c>, <c>hparam.embedding_model</c>)
/// is refused with one line naming it (exit 2), never silently ignored.
/// </summary>
public sealed record TrainerSettings
{
    public string? DatasetUri { get; init; }

    public string? DatasetPath { get; init; }

    public string? TestDatasetPath { get; init; }

    public string? LlmDataPath { get; init; }

    public string OutputDirectory { get; init; } = "/output";

    public double TestSplit { get; init; } = 0.2;

    public required RouterSpec Spec { get; init; }

    /// <summary>
    /// How the operating point is picked on the validation split: <c>TARGET_PRICE_RATIO</c>,
    /// <c>TARGET_QUALITY_RATIO</c> or a raw <c>COST_WEIGHT</c> (default: <c>COST_WEIGHT=0</c>).
    /// </summary>
    public OperatingTarget Target { get; init; } = new(OperatingTarget.CostWeight, 0);

    /// <summary><c>CALIBRATION_SPLIT</c>: share of the training queries held back to sweep the cost trade-off (default 0.2).</summary>
    public double CalibrationSplit { get; init; } = 0.2;

    public static TrainerSettings Parse(string[] args, IDictionary environment)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        string? configPath = null;
        for (var i = 0; i < args.Length; i++)
        {
            var next = i + 1 < args.Length ? args[i + 1] : throw new RoutingDataException(args[i], "needs a value");
            switch (args[i])
            {
                case "--router-type":
                    values["ROUTER_TYPE"] = next;
                    i++;
                    break;
                case "--config":
                    configPath = next;
                    i++;
                    break;
                default:
                    throw new RoutingDataException(args[i], "unknown argument (expected --router-type knn|mlp|mf|bert and --config file.yaml)");
            }
        }
        if (configPath is not null)
        {
            foreach (var (k, v) in ReadYaml(configPath))
            {
                values.TryAdd(k, v);
            }
        }
        foreach (DictionaryEntry e in environment)
        {
            if (e.Key is string key && e.Value is string value && !string.IsNullOrEmpty(value))
            {
                if (TrainerSettingNames.Problem(key) is { } problem)
                {
                    throw new RoutingDataException(key, problem);
                }
                values[key] = value;
            }
        }
        string? Get(string key) => values.TryGetValue(key, out var v) && !string.IsNullOrWhiteSpace(v) ? v.Trim() : null;
        var seed = ParseULong(Get("SEED"), "SEED", 42);
        var tfidf = new TfidfOptions();
        var knn = new KnnOptions();
        var mlp = new MlpOptions();
        var mf = new MfOptions();
        var spec = new RouterSpec
        {
            RouterType = (Get("ROUTER_TYPE") ?? MlpRouter.TypeName).ToLowerInvariant(),
            Featurizer = Get("FEATURIZER") ?? "tfidf",
            Seed = seed,
            CostWeight = ParseDouble(Get("COST_WEIGHT"), "COST_WEIGHT", 0),
            IpsClip = ParseDouble(Get("IPS_CLIP"), "IPS_CLIP", ScoreMatrix.DefaultIpsClip),
            EmbeddingModelPath = Get("EMBEDDING_MODEL_PATH"),
            EmbeddingVocabPath = Get("EMBEDDING_VOCAB_PATH"),
            EmbeddingMaxTokens = (int)ParseDouble(Get("EMBEDDING_MAX_TOKENS"), "EMBEDDING_MAX_TOKENS", 256),
            Tfidf = tfidf with { Dimension = ParseInt(Get("FEATURE_DIM"), "FEATURE_DIM", tfidf.Dimension) },
            Knn = knn with
            {
                K = ParseInt(Get("K"), "K", knn.K),
                Power = ParseDouble(Get("KNN_POWER"), "KNN_POWER", knn.Power),
                PriorWeight = ParseDouble(Get("KNN_PRIOR_WEIGHT"), "KNN_PRIOR_WEIGHT", knn.PriorWeight),
            },
            Mlp = mlp with
            {
                HiddenDims = Get("HIDDEN_DIMS") is { } h ? ParseDims(h) : mlp.HiddenDims,
                Epochs = ParseInt(Get("EPOCHS"), "EPOCHS", mlp.Epochs),
                LearningRate = ParseDouble(Get("LEARNING_RATE"), "LEARNING_RATE", mlp.LearningRate),
                BatchSize = ParseInt(Get("BATCH_SIZE"), "BATCH_SIZE", mlp.BatchSize),
                Seed = seed,
            },
            Mf = mf with
            {
                LatentDim = ParseInt(Get("MF_DIM"), "MF_DIM", mf.LatentDim),
                Epochs = ParseInt(Get("EPOCHS"), "EPOCHS", mf.Epochs),
                LearningRate = ParseDouble(Get("MF_LEARNING_RATE") ?? (Get("ROUTER_TYPE") == "mf" ? Get("LEARNING_RATE") : null), "LEARNING_RATE", mf.LearningRate),
                Seed = seed,
            },
        };
        var settings = new TrainerSettings
        {
            DatasetUri = Get("ROUTEIQ_DATASET_URI"),
            DatasetPath = Get("DATASET_PATH"),
            TestDatasetPath = Get("TEST_DATASET_PATH"),
            LlmDataPath = Get("LLM_DATA_PATH"),
            OutputDirectory = Get("ROUTEIQ_OUTPUT_DIR") ?? "/output",
            TestSplit = ParseDouble(Get("TEST_SPLIT"), "TEST_SPLIT", 0.2),
            CalibrationSplit = ParseDouble(Get("CALIBRATION_SPLIT"), "CALIBRATION_SPLIT", 0.2),
            Spec = spec,
            Target = ParseTarget(Get),
        };
        if (settings.CalibrationSplit is < 0 or >= 1)
        {
            throw new RoutingDataException("CALIBRATION_SPLIT", $"must be in [0, 1), got {settings.CalibrationSplit}");
        }
        if (settings.DatasetUri is null && settings.DatasetPath is null)
        {
            throw new RoutingDataException("ROUTEIQ_DATASET_URI", "no training data: set ROUTEIQ_DATASET_URI (a built dataset folder) or DATASET_PATH (+ LLM_DATA_PATH)");
        }
        if (settings.TestSplit is < 0 or >= 1)
        {
            throw new RoutingDataException("TEST_SPLIT", $"must be in [0, 1), got {settings.TestSplit}");
        }
        spec.Validate();
        return settings;
    }

    /// <summary>LLMRouter-style YAML: <c>data_path</c> (file locations) and <c>hparam</c> (hyperparameters), mapped to our variable names.</summary>
    private static Dictionary<string, string> ReadYaml(string path)
    {
        if (!File.Exists(path))
        {
            throw new RoutingDataException("--config", $"file '{path}' does not exist");
        }
        var stream = new YamlStream();
        try
        {
            using var reader = new StreamReader(path);
            stream.Load(reader);
        }
        catch (YamlDotNet.Core.YamlException ex)
        {
            throw new RoutingDataException("--config", $"'{path}' is not valid YAML: {ex.Message}");
        }
        var result = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            throw new RoutingDataException("--config", $"'{path}' is not a YAML mapping with data_path / hparam");
        }
        var baseDir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        string Resolve(string p) => Path.IsPathRooted(p) || p.Contains("://", StringComparison.Ordinal) || File.Exists(p) ? p : Path.Combine(baseDir, p);
        var dataKeys = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
        {
            ["routing_data_train"] = "DATASET_PATH",
            ["train_data"] = "DATASET_PATH",
            ["dataset"] = "DATASET_PATH",
            ["routing_data_test"] = "TEST_DATASET_PATH",
            ["llm_data"] = "LLM_DATA_PATH",
            ["dataset_uri"] = "ROUTEIQ_DATASET_URI",
            ["embedding_model"] = "EMBEDDING_MODEL_PATH",
            ["embedding_vocab"] = "EMBEDDING_VOCAB_PATH",
        };
        var hparamKeys = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
        {
            ["k"] = "K",
            ["n_neighbors"] = "K",
            ["hidden_dims"] = "HIDDEN_DIMS",
            ["hidden_layer_sizes"] = "HIDDEN_DIMS",
            ["hidden_dim"] = "HIDDEN_DIMS",
            ["epochs"] = "EPOCHS",
            ["num_epochs"] = "EPOCHS",
            ["max_iter"] = "EPOCHS",
            ["learning_rate"] = "LEARNING_RATE",
            ["learning_rate_init"] = "LEARNING_RATE",
            ["lr"] = "LEARNING_RATE",
            ["cost_weight"] = "COST_WEIGHT",
            ["seed"] = "SEED",
            ["random_state"] = "SEED",
            ["test_split"] = "TEST_SPLIT",
            ["test_size"] = "TEST_SPLIT",
            ["batch_size"] = "BATCH_SIZE",
            ["feature_dim"] = "FEATURE_DIM",
            ["latent_dim"] = "MF_DIM",
            ["router_type"] = "ROUTER_TYPE",
        };
        foreach (var (section, map, isPath) in new[] { ("data_path", dataKeys, true), ("hparam", hparamKeys, false) })
        {
            if (!root.Children.TryGetValue(new YamlScalarNode(section), out var node))
            {
                continue;
            }
            if (node is not YamlMappingNode mapping)
            {
                throw new RoutingDataException($"--config: {section}", "expected a mapping");
            }
            foreach (var (keyNode, valueNode) in mapping.Children)
            {
                var key = ((YamlScalarNode)keyNode).Value ?? "";
                if (!map.TryGetValue(key, out var variable))
                {
                    throw new RoutingDataException($"--config: {section}.{key}",
                        $"unknown setting (known: {string.Join(", ", map.Keys.Order(StringComparer.Ordinal))})");
                }
                var value = valueNode switch
                {
                    YamlScalarNode s => s.Value ?? "",
                    YamlSequenceNode seq => string.Join(',', seq.Children.OfType<YamlScalarNode>().Select(c => c.Value)),
                    _ => throw new RoutingDataException($"--config: {section}.{key}", "expected a value or a list"),
                };
                result[variable] = isPath && variable != "ROUTEIQ_DATASET_URI" ? Resolve(value) : value;
            }
        }
        return result;
    }

    private static OperatingTarget ParseTarget(Func<string, string?> get)
    {
        var given = new[] { OperatingTarget.PriceRatio, OperatingTarget.QualityRatio, OperatingTarget.CostWeight }.Where(k => get(k) is not null).ToList();
        if (given.Count > 1)
        {
            throw new RoutingDataException(given[0], $"set one of TARGET_PRICE_RATIO, TARGET_QUALITY_RATIO and COST_WEIGHT, not {string.Join(" and ", given)}");
        }
        if (given.Count == 0)
        {
            return new OperatingTarget(OperatingTarget.CostWeight, 0);
        }
        var kind = given[0];
        var value = ParseDouble(get(kind), kind, 0);
        if (kind != OperatingTarget.CostWeight && value <= 0)
        {
            throw new RoutingDataException(kind, $"must be a positive ratio (0.7 = 70 % of the best single model's), got {value}");
        }
        return new OperatingTarget(kind, value);
    }

    private static int[] ParseDims(string value)
    {
        try
        {
            return value.Trim('[', ']', ' ').Split([',', ' '], StringSplitOptions.RemoveEmptyEntries).Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        }
        catch (FormatException)
        {
            throw new RoutingDataException("HIDDEN_DIMS", $"expected comma-separated layer sizes such as '128,64', got '{value}'");
        }
    }

    private static int ParseInt(string? value, string name, int fallback) =>
        value is null ? fallback : int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : throw new RoutingDataException(name, $"expected an integer, got '{value}'");

    private static ulong ParseULong(string? value, string name, ulong fallback) =>
        value is null ? fallback : ulong.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : throw new RoutingDataException(name, $"expected a non-negative integer, got '{value}'");

    private static double ParseDouble(string? value, string name, double fallback) =>
        value is null ? fallback : double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && double.IsFinite(v) ? v : throw new RoutingDataException(name, $"expected a number, got '{value}'");
}
