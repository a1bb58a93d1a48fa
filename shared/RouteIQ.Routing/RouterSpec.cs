using System.Diagnostics;
using System.Text.Json.Nodes;

namespace RouteIQ.Routing;

/// <summary>Everything needed to train one router: type, featurizer and hyperparameters.</summary>
public sealed record RouterSpec
{
    /// <summary><c>knn</c>, <c>mlp</c>, <c>mf</c>, or <c>bert</c> (ONNX sentence embeddings + the MLP head).</summary>
    public string RouterType { get; init; } = MlpRouter.TypeName;

    public TfidfOptions Tfidf { get; init; } = new();

    /// <summary><c>FEATURIZER</c>: <c>tfidf</c> (default: hashed TF-IDF) or <c>minilm</c> (all-MiniLM-L6-v2 sentence embeddings).</summary>
    public string Featurizer { get; init; } = "tfidf";

    public static readonly string[] Featurizers = ["tfidf", "minilm"];

    public string? EmbeddingModelPath { get; init; }

    public string? EmbeddingVocabPath { get; init; }

    public int EmbeddingMaxTokens { get; init; } = 256;

    public KnnOptions Knn { get; init; } = new();

    public MlpOptions Mlp { get; init; } = new();

    public MfOptions Mf { get; init; } = new();

    public double CostWeight { get; init; }

    /// <summary>
    /// <c>IPS_CLIP</c>: logged observations count 1/propensity times, at most this many (default 10).
    /// Full-information labels (propensity 1) count once either way.
    /// </summary>
    public double IpsClip { get; init; } = ScoreMatrix.DefaultIpsClip;

    public ulong Seed { get; init; } = 42;

    public static readonly string[] RouterTypes = ["knn", "mlp", "mf", "bert"];

    public bool UsesEmbeddings => (RouterType == "bert" && Featurizer != "minilm") || EmbeddingModelPath is not null;

    public void Validate()
    {
        if (!RouterTypes.Contains(RouterType))
        {
            throw new RoutingDataException("ROUTER_TYPE", $"must be one of {string.Join(", ", RouterTypes)}, got '{RouterType}'");
        }
        if (CostWeight < 0 || !double.IsFinite(CostWeight))
        {
            throw new RoutingDataException("COST_WEIGHT", $"must be a non-negative number, got {CostWeight}");
        }
        if (UsesEmbeddings && (EmbeddingModelPath is null || EmbeddingVocabPath is null))
        {
            throw new RoutingDataException(EmbeddingModelPath is null ? "EMBEDDING_MODEL_PATH" : "EMBEDDING_VOCAB_PATH",
                "the sentence-embedding featurizer needs both EMBEDDING_MODEL_PATH and EMBEDDING_VOCAB_PATH");
        }
        if (!Featurizers.Contains(Featurizer))
        {
            throw new RoutingDataException("FEATURIZER", $"must be one of {string.Join(", ", Featurizers)}, got '{Featurizer}'");
        }
        if (Featurizer == "minilm" && EmbeddingModelPath is not null)
        {
            throw new RoutingDataException("FEATURIZER", "minilm brings its own model: do not set EMBEDDING_MODEL_PATH with it");
        }
        if (IpsClip < 1 || !double.IsFinite(IpsClip))
        {
            throw new RoutingDataException("IPS_CLIP", $"must be a number >= 1, got {IpsClip}");
        }
        Tfidf.Validate();
        Knn.Validate();
        Mlp.Validate();
        Mf.Validate();
    }

    public IFeaturizer CreateFeaturizer(IReadOnlyList<string> trainingTexts) =>
        Featurizer == "minilm"
            ? MiniLmFeaturizer.Open(Math.Min(EmbeddingMaxTokens, 256))
            : UsesEmbeddings
                ? OnnxEmbeddingFeaturizer.Open(EmbeddingModelPath!, EmbeddingVocabPath!, EmbeddingMaxTokens)
                : HashedTfidfFeaturizer.Fit(trainingTexts, Tfidf);

    /// <summary>Trains a router on <paramref name="data"/>; deterministic for the same data and spec.</summary>
    public RouterModel Train(RoutingDataset data, Action<string>? log = null, int featurizeParallelism = 1)
    {
        Validate();
        var texts = data.Samples.Select(s => s.Query).ToList();
        var sw = Stopwatch.StartNew();
        var featurizer = CreateFeaturizer(texts);
        try
        {
            var x = featurizer.FeaturizeAll(texts, featurizeParallelism);
            log?.Invoke($"featurized {texts.Count} queries with {featurizer.Kind} (dimension {featurizer.Dimension}) in {sw.ElapsedMilliseconds} ms");
            sw.Restart();
            var d = featurizer.Dimension;
            IRouterHead head = RouterType switch
            {
                "knn" => KnnRouter.Train(x, d, data, Knn with { Seed = Seed }, IpsClip),
                "mlp" or "bert" => MlpRouter.Train(x, d, data, Mlp with { Seed = Seed }, log, IpsClip),
                "mf" => MfRouter.Train(x, d, data, Mf with { Seed = Seed }, log, IpsClip),
                _ => throw new RoutingDataException("ROUTER_TYPE", $"unknown router type '{RouterType}'"),
            };
            log?.Invoke($"trained {head.Type} head on {texts.Count} queries × {data.ModelCount} models in {sw.ElapsedMilliseconds} ms");
            var training = new JsonObject { ["examples"] = texts.Count, ["seed"] = Seed };
            if (data.HasPropensities)
            {
                training["ips_clip"] = IpsClip;
            }
            if (head is MlpRouter mlp)
            {
                foreach (var (k, v) in mlp.Training)
                {
                    training[k] = v?.DeepClone();
                }
            }
            return new RouterModel
            {
                Featurizer = featurizer,
                Head = head,
                Models = data.Models,
                Prices = data.Prices,
                CostWeight = CostWeight,
                Hyperparameters = Hyperparameters(),
                Training = training,
            };
        }
        catch
        {
            featurizer.Dispose();
            throw;
        }
    }

    private JsonObject Hyperparameters()
    {
        var h = new JsonObject { ["router_type"] = RouterType, ["cost_weight"] = CostWeight, ["seed"] = Seed, ["featurizer"] = Featurizer };
        switch (RouterType)
        {
            case "knn":
                h["k"] = Knn.K;
                h["power"] = Knn.Power;
                h["prior_weight"] = Knn.PriorWeight;
                h["lists"] = Knn.Lists;
                h["probe"] = Knn.Probe;
                break;
            case "mlp" or "bert":
                h["hidden_dims"] = new JsonArray(Mlp.HiddenDims.Select(x => (JsonNode)x).ToArray());
                h["epochs"] = Mlp.Epochs;
                h["learning_rate"] = Mlp.LearningRate;
                h["batch_size"] = Mlp.BatchSize;
                h["weight_decay"] = Mlp.WeightDecay;
                h["patience"] = Mlp.Patience;
                break;
            case "mf":
                h["latent_dim"] = Mf.LatentDim;
                h["epochs"] = Mf.Epochs;
                h["learning_rate"] = Mf.LearningRate;
                break;
        }
        return h;
    }
}
