using System.Buffers;
using System.Numerics.Tensors;
using System.Text.Json.Nodes;

namespace RouteIQ.Routing;

public sealed record KnnOptions
{
    public int K { get; init; } = 100;

    /// <summary>Neighbour weight = similarity^Power (0 gives a plain average).</summary>
    public double Power { get; init; } = 1;

    /// <summary>Pseudo-count of the models' mean scores blended into every prediction (smoothing for sparse neighbourhoods).</summary>
    public double PriorWeight { get; init; } = 0.5;

    /// <summary>
    /// Inverted-file index: the training queries are clustered (spherical k-means) into this many
    /// lists and a query scans only the <see cref="Probe"/> lists nearest to it. 0 = exact search.
    /// </summary>
    public int Lists { get; init; } = 64;

    public int Probe { get; init; } = 8;

    public ulong Seed { get; init; } = 42;

    public void Validate()
    {
        if (Lists < 0 || Probe < 1)
        {
            throw new RoutingDataException("KNN_LISTS", $"need KNN_LISTS >= 0 and KNN_PROBE >= 1, got {Lists} and {Probe}");
        }
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
    private readonly float[] _centroids;
    private readonly int[] _listStarts;
    private readonly float[]? _weights;
    private readonly float[]? _weightedScores;

    /// <param name="weights">
    /// Per (example, model) observation weights — clipped inverse propensities, 0 where the
    /// example's score for that model was not observed — or null when every score was observed at
    /// propensity 1. With weights, a model's prediction averages only the neighbours that observed it.
    /// </param>
    public KnnRouter(KnnOptions options, int dimension, int modelCount, float[] features, float[] scores, float[] means, float[]? centroids = null, int[]? listStarts = null, float[]? weights = null)
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
        if (weights is not null)
        {
            if (weights.Length != scores.Length || weights.Any(w => w < 0))
            {
                throw new InvalidModelException("kNN weights do not agree with the scores");
            }
            _weights = weights;
            _weightedScores = new float[scores.Length];
            TensorPrimitives.Multiply(scores, weights, _weightedScores);
        }
        _centroids = centroids ?? [];
        _listStarts = listStarts ?? [0, _count];
        var lists = _listStarts.Length - 1;
        if (_centroids.Length != (centroids is null ? 0 : lists * dimension) || _listStarts[0] != 0 || _listStarts[^1] != _count
            || _listStarts.Zip(_listStarts.Skip(1)).Any(p => p.First > p.Second))
        {
            throw new InvalidModelException("kNN index lists do not agree with the examples");
        }
    }

    private int ListCount => _listStarts.Length - 1;

    /// <summary>Examples per index list (one list when the index is exact).</summary>
    public IReadOnlyList<int> ListSizes => _listStarts.Zip(_listStarts.Skip(1), (a, b) => b - a).ToArray();

    public KnnOptions Options { get; }

    public string Type => TypeName;

    public int ModelCount { get; }

    public static KnnRouter Train(float[] features, int dimension, RoutingDataset data, KnnOptions options, double ipsClip = ScoreMatrix.DefaultIpsClip)
    {
        var weights = ScoreMatrix.Weights(data, ipsClip);
        var means = ScoreMatrix.ColumnMeans(data, weights);
        var scores = ScoreMatrix.Imputed(data, means);
        var n = data.Samples.Count;
        var lists = Math.Min(options.Lists, n / 8);
        if (lists < 2)
        {
            return new KnnRouter(options, dimension, data.ModelCount, features, scores, means, weights: weights);
        }
        var (centroids, assignment) = SphericalKMeans(features, dimension, n, lists, options.Seed);
        // Rows grouped by list, stable within a list, so a list is one contiguous block to scan.
        var order = Enumerable.Range(0, n).OrderBy(i => assignment[i]).ThenBy(i => i).ToArray();
        var m = data.ModelCount;
        var groupedFeatures = new float[features.Length];
        var groupedScores = new float[scores.Length];
        var groupedWeights = weights is null ? null : new float[weights.Length];
        var starts = new int[lists + 1];
        for (var r = 0; r < n; r++)
        {
            var i = order[r];
            features.AsSpan(i * dimension, dimension).CopyTo(groupedFeatures.AsSpan(r * dimension));
            scores.AsSpan(i * m, m).CopyTo(groupedScores.AsSpan(r * m));
            weights?.AsSpan(i * m, m).CopyTo(groupedWeights.AsSpan(r * m));
            starts[assignment[i] + 1]++;
        }
        for (var c = 0; c < lists; c++)
        {
            starts[c + 1] += starts[c];
        }
        return new KnnRouter(options, dimension, m, groupedFeatures, groupedScores, means, centroids, starts, groupedWeights);
    }

    private static (float[] Centroids, int[] Assignment) SphericalKMeans(float[] x, int d, int n, int k, ulong seed)
    {
        var rng = new SeededRandom(seed);
        var picks = Enumerable.Range(0, n).ToArray();
        rng.Shuffle(picks);
        var centroids = new float[k * d];
        for (var c = 0; c < k; c++)
        {
            x.AsSpan(picks[c] * d, d).CopyTo(centroids.AsSpan(c * d));
        }
        var assignment = new int[n];
        for (var iteration = 0; iteration < 8; iteration++)
        {
            // Capacity-bounded assignment: text clusters are very uneven (one "generic" cluster can
            // hold a fifth of the data), which would make probing it as slow as a full scan.
            var capacity = (int)Math.Ceiling(1.5 * n / k);
            var fill = new int[k];
            var sims = new float[k];
            for (var i = 0; i < n; i++)
            {
                var row = x.AsSpan(i * d, d);
                for (var c = 0; c < k; c++)
                {
                    sims[c] = fill[c] < capacity ? TensorPrimitives.Dot(centroids.AsSpan(c * d, d), row) : float.NegativeInfinity;
                }
                var best = TensorPrimitives.IndexOfMax(sims);
                assignment[i] = best;
                fill[best]++;
            }
            var sums = new float[k * d];
            for (var i = 0; i < n; i++)
            {
                var target = sums.AsSpan(assignment[i] * d, d);
                TensorPrimitives.Add(target, x.AsSpan(i * d, d), target);
            }
            for (var c = 0; c < k; c++)
            {
                var sum = sums.AsSpan(c * d, d);
                var norm = TensorPrimitives.Norm(sum);
                if (norm > 0)
                {
                    TensorPrimitives.Divide(sum, norm, centroids.AsSpan(c * d, d));
                }
            }
        }
        return (centroids, assignment);
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
            var probed = ProbedLists(features);
            var filled = 0;
            foreach (var list in probed)
            {
            for (var i = _listStarts[list]; i < _listStarts[list + 1]; i++)
            {
                sims[i] = TensorPrimitives.Dot(all.Slice(i * d, d), features);
            }
            for (var i = _listStarts[list]; i < _listStarts[list + 1]; i++)
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
            }
            var prior = (float)Options.PriorWeight;
            for (var m = 0; m < ModelCount; m++)
            {
                scores[m] = prior * _means[m];
            }
            if (_weights is not null)
            {
                PredictWeighted(topSim.AsSpan(0, filled), topIdx.AsSpan(0, filled), prior, scores);
                return;
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

    /// <summary>Per model: (prior·mean + Σ sim^p·w·score) / (prior + Σ sim^p·w) over the neighbours that observed it.</summary>
    private void PredictWeighted(ReadOnlySpan<float> topSim, ReadOnlySpan<int> topIdx, float prior, Span<float> scores)
    {
        var m = ModelCount;
        Span<float> totals = m <= 256 ? stackalloc float[m] : new float[m];
        totals.Fill(prior);
        for (var j = 0; j < topSim.Length; j++)
        {
            var sim = topSim[j];
            if (sim <= 0)
            {
                break;
            }
            var w = Options.Power == 0 ? 1f : MathF.Pow(sim, (float)Options.Power);
            TensorPrimitives.MultiplyAdd(_weightedScores.AsSpan(topIdx[j] * m, m), w, scores, scores);
            TensorPrimitives.MultiplyAdd(_weights.AsSpan(topIdx[j] * m, m), w, totals, totals);
        }
        for (var k = 0; k < m; k++)
        {
            scores[k] = totals[k] > 0 ? scores[k] / totals[k] : _means[k];
        }
    }

    /// <summary>The lists nearest to the query (all of them for an exact index).</summary>
    private int[] ProbedLists(ReadOnlySpan<float> features)
    {
        var lists = ListCount;
        if (_centroids.Length == 0 || Options.Probe >= lists)
        {
            return Enumerable.Range(0, lists).ToArray();
        }
        Span<float> sims = lists <= 1024 ? stackalloc float[lists] : new float[lists];
        for (var c = 0; c < lists; c++)
        {
            sims[c] = TensorPrimitives.Dot(_centroids.AsSpan(c * _dimension, _dimension), features);
        }
        var chosen = new int[Options.Probe];
        for (var p = 0; p < chosen.Length; p++)
        {
            var best = TensorPrimitives.IndexOfMax(sims);
            chosen[p] = best;
            sims[best] = float.NegativeInfinity;
        }
        return chosen;
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
            ["lists"] = _centroids.Length == 0 ? 0 : ListCount,
            ["probe"] = Options.Probe,
        };
        if (_weights is not null)
        {
            ((JsonObject)header["router"]!)["weighted"] = true;
        }
        if (_centroids.Length > 0)
        {
            writer.Add("knn.centroids", _centroids, ListCount, _dimension);
            writer.Add("knn.list_starts", _listStarts.Select(v => (float)v).ToArray(), ListCount + 1);
        }
        writer.Add("knn.features", _features, _count, _dimension);
        writer.Add("knn.scores", _scores, _count, ModelCount);
        writer.Add("knn.means", _means, ModelCount);
        if (_weights is not null)
        {
            writer.Add("knn.weights", _weights, _count, ModelCount);
        }
    }

    public static KnnRouter Read(JsonObject router, ModelFileReader reader, int dimension, int modelCount)
    {
        var options = new KnnOptions
        {
            K = ModelHeader.Int(router, "k"),
            Power = ModelHeader.Double(router, "power"),
            PriorWeight = ModelHeader.Double(router, "prior_weight"),
            Lists = ModelHeader.Int(router, "lists"),
            Probe = ModelHeader.Int(router, "probe"),
        };
        var n = ModelHeader.Int(router, "examples");
        try
        {
            float[]? centroids = null;
            int[]? starts = null;
            if (options.Lists > 0)
            {
                centroids = reader.Array("knn.centroids", options.Lists, dimension);
                starts = reader.Array("knn.list_starts", options.Lists + 1)
                    .Select(v => v >= 0 && v <= n && v == MathF.Floor(v) ? (int)v : throw new InvalidModelException("array 'knn.list_starts' holds an invalid offset")).ToArray();
            }
            var weighted = router["weighted"] is JsonValue wv && wv.TryGetValue<bool>(out var b) && b;
            return new KnnRouter(options, dimension, modelCount, reader.Array("knn.features", n, dimension), reader.Array("knn.scores", n, modelCount), reader.Array("knn.means", modelCount), centroids, starts,
                weighted ? reader.Array("knn.weights", n, modelCount) : null);
        }
        catch (RoutingDataException ex)
        {
            throw new InvalidModelException($"kNN settings are invalid: {ex.Message}");
        }
    }
}
