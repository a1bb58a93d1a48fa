using System.Text.Json.Nodes;

namespace RouteIQ.Routing;

/// <summary>What a router decided for one query.</summary>
public sealed record RoutingDecision(string Model, int ModelIndex, double Price, float[] Scores, double SelectionProbability = 1, string SelectionReason = ExplorationPolicy.ReasonGreedy);

/// <summary>A trained router: featurizer + scoring head + the candidate models and their prices.</summary>
public sealed class RouterModel : IDisposable
{
    public const string FileName = "router.model";
    public const string FormatName = "routeiq-router";

    public required IFeaturizer Featurizer { get; init; }

    public required IRouterHead Head { get; init; }

    public required IReadOnlyList<string> Models { get; init; }

    public required IReadOnlyList<double> Prices { get; init; }

    /// <summary>λ of the cost-aware choice (score − λ·price) used when a caller gives none.</summary>
    public double CostWeight { get; init; }

    /// <summary>The hyperparameters the router was trained with, as recorded in the file.</summary>
    public JsonObject Hyperparameters { get; init; } = [];

    /// <summary>Facts about training (examples, seed, epochs) recorded in the file.</summary>
    public JsonObject Training { get; init; } = [];

    public string RouterType => Head.Type;

    /// <summary>The same router (sharing featurizer and head: dispose only one of the two) serving at another default cost weight.</summary>
    public RouterModel WithCostWeight(double costWeight) => new()
    {
        Featurizer = Featurizer,
        Head = Head,
        Models = Models,
        Prices = Prices,
        CostWeight = costWeight,
        Hyperparameters = (JsonObject)Hyperparameters.DeepClone(),
        Training = (JsonObject)Training.DeepClone(),
    };

    public void Predict(string query, Span<float> scores)
    {
        var d = Featurizer.Dimension;
        Span<float> features = d <= 4096 ? stackalloc float[d] : new float[d];
        Featurizer.Featurize(query, features);
        Head.Predict(features, scores);
    }

    public RoutingDecision Route(string query, double? costWeight = null, ExplorationPolicy? exploration = null, string? requestId = null)
    {
        var scores = new float[Models.Count];
        Predict(query, scores);
        var choice = (exploration ?? ExplorationPolicy.None).Choose(scores, Prices, costWeight ?? CostWeight, requestId);
        return new RoutingDecision(Models[choice.ModelIndex], choice.ModelIndex, Prices[choice.ModelIndex], scores, choice.Probability, choice.Reason);
    }

    public RoutingDecision[] RouteBatch(IReadOnlyList<string> queries, double? costWeight = null, int maxDegreeOfParallelism = -1, ExplorationPolicy? exploration = null, IReadOnlyList<string?>? requestIds = null)
    {
        var results = new RoutingDecision[queries.Count];
        if (Featurizer is MiniLmFeaturizer)
        {
            // One model run per chunk of queries, then the head per query.
            var features = Featurizer.FeaturizeAll(queries, maxDegreeOfParallelism < 1 ? Environment.ProcessorCount : maxDegreeOfParallelism);
            var d = Featurizer.Dimension;
            var policy = exploration ?? ExplorationPolicy.None;
            Parallel.For(0, queries.Count, new ParallelOptions { MaxDegreeOfParallelism = maxDegreeOfParallelism }, i =>
            {
                var scores = new float[Models.Count];
                Head.Predict(features.AsSpan(i * d, d), scores);
                var choice = policy.Choose(scores, Prices, costWeight ?? CostWeight, requestIds is null ? null : requestIds[i]);
                results[i] = new RoutingDecision(Models[choice.ModelIndex], choice.ModelIndex, Prices[choice.ModelIndex], scores, choice.Probability, choice.Reason);
            });
            return results;
        }
        Parallel.For(0, queries.Count, new ParallelOptions { MaxDegreeOfParallelism = maxDegreeOfParallelism },
            i => results[i] = Route(queries[i], costWeight, exploration, requestIds is null ? null : requestIds[i]));
        return results;
    }

    /// <summary>The model file's bytes (byte-for-byte reproducible for the same model).</summary>
    public byte[] ToBytes(string modelDirectory)
    {
        var header = new JsonObject
        {
            ["format"] = FormatName,
            ["format_version"] = ModelFileWriter.FormatVersion,
            ["router_type"] = Head.Type,
            ["models"] = new JsonArray(Models.Select(m => (JsonNode)m).ToArray()),
            ["prices"] = new JsonArray(Prices.Select(p => (JsonNode)p).ToArray()),
            ["cost_weight"] = CostWeight,
            ["hyperparameters"] = Hyperparameters.DeepClone(),
            ["training"] = Training.DeepClone(),
        };
        var writer = new ModelFileWriter();
        Featurizer.Write(header, writer, modelDirectory);
        Head.Write(header, writer);
        return writer.ToBytes(header);
    }

    /// <summary>Writes <c>router.model</c> (and any featurizer files) into <paramref name="directory"/>; returns the model file's path.</summary>
    public string Save(string directory)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, FileName);
        var temp = path + ".tmp";
        File.WriteAllBytes(temp, ToBytes(directory));
        File.Move(temp, path, overwrite: true);
        return path;
    }

    /// <summary>Loads <c>router.model</c> from <paramref name="directory"/>, validating every part before use.</summary>
    public static RouterModel Load(string directory)
    {
        var path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
        {
            throw new InvalidModelException($"no '{FileName}' in '{directory}'");
        }
        var length = new FileInfo(path).Length;
        if (length > ModelFileReader.MaxFileBytes)
        {
            throw new InvalidModelException($"'{FileName}' is {length} bytes, larger than any model this build loads");
        }
        return FromBytes(File.ReadAllBytes(path), directory);
    }

    public static RouterModel FromBytes(ReadOnlySpan<byte> bytes, string modelDirectory)
    {
        var reader = ModelFileReader.Parse(bytes);
        var h = reader.Header;
        if (ModelHeader.String(h, "format") != FormatName)
        {
            throw new InvalidModelException($"header field 'format' is not '{FormatName}'");
        }
        var models = ModelHeader.Strings(h, "models");
        var prices = ModelHeader.Doubles(h, "prices");
        if (models.Length == 0 || prices.Length != models.Length || models.Distinct(StringComparer.Ordinal).Count() != models.Length)
        {
            throw new InvalidModelException("header fields 'models' and 'prices' are empty, differ in length or repeat a model");
        }
        var featurizerHeader = ModelHeader.Object(h, "featurizer");
        IFeaturizer featurizer = ModelHeader.String(featurizerHeader, "kind") switch
        {
            HashedTfidfFeaturizer.KindName => HashedTfidfFeaturizer.Read(featurizerHeader, reader),
            OnnxEmbeddingFeaturizer.KindName => OnnxEmbeddingFeaturizer.Read(featurizerHeader, modelDirectory),
            MiniLmFeaturizer.KindName => MiniLmFeaturizer.Read(featurizerHeader),
            var other => throw new InvalidModelException($"unknown featurizer kind '{other}'"),
        };
        try
        {
            var routerHeader = ModelHeader.Object(h, "router");
            var type = ModelHeader.String(routerHeader, "type");
            if (type != ModelHeader.String(h, "router_type"))
            {
                throw new InvalidModelException("header fields 'router_type' and 'router.type' disagree");
            }
            IRouterHead head = type switch
            {
                KnnRouter.TypeName => KnnRouter.Read(routerHeader, reader, featurizer.Dimension, models.Length),
                MlpRouter.TypeName => MlpRouter.Read(routerHeader, reader, featurizer.Dimension, models.Length),
                MfRouter.TypeName => MfRouter.Read(routerHeader, reader, featurizer.Dimension, models.Length),
                var other => throw new InvalidModelException($"unknown router type '{other}'"),
            };
            return new RouterModel
            {
                Featurizer = featurizer,
                Head = head,
                Models = models,
                Prices = prices,
                CostWeight = ModelHeader.Double(h, "cost_weight"),
                Hyperparameters = ModelHeader.Object(h, "hyperparameters"),
                Training = ModelHeader.Object(h, "training"),
            };
        }
        catch
        {
            featurizer.Dispose();
            throw;
        }
    }

    public void Dispose() => Featurizer.Dispose();
}
