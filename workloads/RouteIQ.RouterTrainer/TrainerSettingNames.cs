namespace RouteIQ.RouterTrainer;

/// <summary>
/// The settings <c>routeiq/router-trainer</c> reads, by their exact (case-sensitive) names. One
/// source file, compiled into the trainer and linked into gateway-admin, so that a request to the
/// built-in trainer naming anything else is refused at the API (400) and, if it still arrives, by
/// the trainer (exit 2).
/// </summary>
internal static class TrainerSettingNames
{
    public static readonly IReadOnlySet<string> Known = new HashSet<string>(StringComparer.Ordinal)
    {
        "ROUTER_TYPE", "SEED", "COST_WEIGHT", "TEST_SPLIT",
        "ROUTEIQ_DATASET_URI", "DATASET_PATH", "TEST_DATASET_PATH", "LLM_DATA_PATH", "ROUTEIQ_OUTPUT_DIR",
        "EMBEDDING_MODEL_PATH", "EMBEDDING_VOCAB_PATH", "EMBEDDING_MAX_TOKENS", "FEATURE_DIM",
        "K", "KNN_POWER", "KNN_PRIOR_WEIGHT",
        "HIDDEN_DIMS", "EPOCHS", "LEARNING_RATE", "BATCH_SIZE",
        "MF_DIM", "MF_LEARNING_RATE",
        "TARGET_PRICE_RATIO", "TARGET_QUALITY_RATIO", "CALIBRATION_SPLIT", "IPS_CLIP", "FEATURIZER",
    };

    /// <summary>Not read by the trainer but by the runner and gateway-admin: the name the produced model registers under.</summary>
    public const string RegisteredModelName = "REGISTERED_MODEL_NAME";

    /// <summary>Name prefixes of the trainer's own settings: any other name with one of these is a typo, not someone else's variable.</summary>
    private static readonly string[] OwnPrefixes =
    [
        "ROUTER_", "KNN_", "MLP_", "MF_", "EMBEDDING_", "FEATURE_", "HIDDEN_", "LEARNING_", "BATCH_", "TEST_",
        "DATASET_", "LLM_", "COST_", "EPOCH", "HPARAM", "DATA_PATH", "TARGET_", "IPS_", "CALIBRATION_",
    ];

    /// <summary>
    /// Why <paramref name="name"/> is refused as a trainer setting, or null when it is a known
    /// setting or ordinary environment (PATH, HOME, HF_TOKEN…) that the trainer leaves alone.
    /// Refused: another letter case of a known setting (settings are case-sensitive), a name with
    /// one of the trainer's own prefixes, and LLMRouter-style dotted keys such as <c>hparam.embedding_model</c>.
    /// </summary>
    public static string? Problem(string name)
    {
        if (Known.Contains(name) || name == RegisteredModelName)
        {
            return null;
        }
        if (Known.FirstOrDefault(k => string.Equals(k, name, StringComparison.OrdinalIgnoreCase)) is { } exact)
        {
            return $"unknown setting '{name}' (settings are case-sensitive: did you mean {exact}?)";
        }
        if (name.Contains('.') || OwnPrefixes.Any(p => name.StartsWith(p, StringComparison.OrdinalIgnoreCase)))
        {
            return $"unknown setting '{name}' (known: {string.Join(", ", Known.Order(StringComparer.Ordinal))})";
        }
        return null;
    }
}
