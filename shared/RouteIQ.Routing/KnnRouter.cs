using System.Buffers;
using System.Numerics.Tensors;
using System.Text.Json.Nodes;

namespace RouteIQ.Routing;

public sealed record KnnOptions
{
    public int K { get; init; } = 40;

    /// <summary>Neighbour weight = similarity^Power (0 gives a plain average).</summary>
    public double Power { get; init; } = 2;

    /// <summary>Pseudo-count of the models' mean scores blended into every prediction (smoothing for sparse neighbourhoods).</summary>
    public double PriorWeight { get; init; } = 0.5;

    public void Validate()
    {
        if (K < 1)
        {
            throw new RoutingDataException("K", $"must be at least 1, got {K}");
        }
        if (Power is < 0 or > 16)
        {
            throw new RoutingDataException("KNN_POWER", $"must be in [0, 16], got {Power}");
        }
        if (PriorWeight < 0)
        {
            throw new RoutingDataException("KNN_PRIOR_WEIGHT", $"must be non-negative, got {PriorWeight}");
        }
    }
}

/// <summary>
/// k nearest neighbours by cosine similarity (features are L2-normalised, so a SIMD dot
/// product), each neighbour's observed scores weighted by similarity^p, blended with the
/// models' mean scores.
/// </summary>
public sealed class KnnRouter : IRouterHead
{
    public const string TypeName = "knn";
    private readonly float[] _features;
    private readonly float[] _scores;
    private readonly float[] _means;
    private readonly int _dimension;
    private readonly int _count;

    public KnnRouter(KnnOptions options, int dimension, int modelCount, float[] features, float[] scores, float[] means)
    {
        options.Validate();
        Options = options;
        _dimension = dimension;
        ModelCount = modelCount;
        _count = features.Length / dimension;
        if (features.Length != _count * dimension || scores.Length != _count * modelCount || means.Length != modelCount)
        {
            throw new InvalidModelException("kNN arrays do not agree in size");
        }
        _features = features;
        _scores = scores;
        _means = means;
    }

    public KnnOptions Options { get; }

    public string Type => TypeName;

    public int ModelCount { get; }

    public static KnnRouter Train(float[] features, int dimension, RoutingDataset data, KnnOptions options)
    {
        var means = ScoreMatrix.ColumnMeans(data);
        return new KnnRouter(options, dimension, data.ModelCount, features, ScoreMatrix.Imputed(data, means), means);
    }

    public void Predict(ReadOnlySpan<float> features, Span<float> scores)
    {
        var k = Math.Min(Options.K, _count);
        var sims = ArrayPool<float>.Shared.Rent(_count);
        var topSim = ArrayPool<float>.Shared.Rent(k);
        var topIdx = ArrayPool<int>.Shared.Rent(k);
        try
        {
            var d = _dimension;
            var all = _features.AsSpan();
            for (var i = 0; i < _count; i++)
            {
                sims[i] = TensorPrimitives.Dot(all.Slice(i * d, d), features);
            }
            var filled = 0;
            for (var i = 0; i < _count; i++)
            {
                var s = sims[i];
                if (filled == k && s <= topSim[k - 1])
                {
                    continue;
                }
                var pos = filled < k ? filled++ : k - 1;
                while (pos > 0 && topSim[pos - 1] < s)
                {
                    topSim[pos] = topSim[pos - 1];
                    topIdx[pos] = topIdx[pos - 1];
                    pos--;
                }
                topSim[pos] = s;
                topIdx[pos] = i;
            }
            var prior = (float)Options.PriorWeight;
            for (var m = 0; m < ModelCount; m++)
            {
                scores[m] = prior * _means[m];
            }
            var total = prior;
            for (var j = 0; j < filled; j++)
            {
                var sim = topSim[j];
                if (sim <= 0)
                {
                    break;
                }
                var w = Options.Power == 0 ? 1f : MathF.Pow(sim, (float)Options.Power);
                total += w;
                TensorPrimitives.MultiplyAdd(_scores.AsSpan(topIdx[j] * ModelCount, ModelCount), w, scores, scores);
            }
            if (total > 0)
            {
                TensorPrimitives.Divide(scores, total, scores);
            }
            else
            {
                _means.CopyTo(scores);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(sims);
            ArrayPool<float>.Shared.Return(topSim);
            ArrayPool<int>.Shared.Return(topIdx);
        }
    }

    public void Write(JsonObject header, ModelFileWriter writer)
    {
        header["router"] = new JsonObject
        {
            ["type"] = TypeName,
            ["k"] = Options.K,
            ["power"] = Options.Power,
            ["prior_weight"] = Options.PriorWeight,
            ["examples"] = _count,
        };
        writer.Add("knn.features", _features, _count, _dimension);
        writer.Add("knn.scores", _scores, _count, ModelCount);
        writer.Add("knn.means", _means, ModelCount);
    }

    public static KnnRouter Read(JsonObject router, ModelFileReader reader, int dimension, int modelCount)
    {
        var options = new KnnOptions
        {
            K = ModelHeader.Int(router, "k"),
            Power = ModelHeader.Double(router, "power"),
            PriorWeight = ModelHeader.Double(router, "prior_weight"),
        };
        var n = ModelHeader.Int(router, "examples");
        try
        {
            return new KnnRouter(options, dimension, modelCount, reader.Array("knn.features", n, dimension), reader.Array("knn.scores", n, modelCount), reader.Array("knn.means", modelCount));
        }
        catch (RoutingDataException ex)
        {
            throw new InvalidModelException($"kNN settings are invalid: {ex.Message}");
        }
    }
}
