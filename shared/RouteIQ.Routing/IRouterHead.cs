using System.Text.Json.Nodes;

namespace RouteIQ.Routing;

/// <summary>Predicts a quality score per candidate model from a query's features. Thread-safe once built.</summary>
public interface IRouterHead
{
    /// <summary>The router type recorded in the model file: <c>knn</c>, <c>mlp</c> or <c>mf</c>.</summary>
    string Type { get; }

    int ModelCount { get; }

    void Predict(ReadOnlySpan<float> features, Span<float> scores);

    void Write(JsonObject header, ModelFileWriter writer);
}

/// <summary>Cost-aware choice: argmax over models of predicted score − λ·price; ties go to the cheaper model.</summary>
public static class Selection
{
    public static int Choose(ReadOnlySpan<float> scores, IReadOnlyList<double> prices, double costWeight)
    {
        var best = -1;
        var bestValue = double.NegativeInfinity;
        for (var m = 0; m < scores.Length; m++)
        {
            var value = scores[m] - costWeight * prices[m];
            if (best < 0 || value > bestValue + 1e-12 || (Math.Abs(value - bestValue) <= 1e-12 && prices[m] < prices[best]))
            {
                best = m;
                bestValue = value;
            }
        }
        return best;
    }
}

public static class ScoreMatrix
{
    /// <summary>Per-model mean of the observed scores (0 where a model has none), weighted when <paramref name="weights"/> is given.</summary>
    public static float[] ColumnMeans(RoutingDataset data, float[]? weights = null)
    {
        var sums = new double[data.ModelCount];
        var counts = new double[data.ModelCount];
        for (var i = 0; i < data.Samples.Count; i++)
        {
            var s = data.Samples[i];
            for (var m = 0; m < sums.Length; m++)
            {
                if (!float.IsNaN(s.Scores[m]))
                {
                    var w = weights is null ? 1.0 : weights[i * sums.Length + m];
                    sums[m] += w * s.Scores[m];
                    counts[m] += w;
                }
            }
        }
        return sums.Select((v, m) => counts[m] == 0 ? 0f : (float)(v / counts[m])).ToArray();
    }

    /// <summary>The default clip of inverse-propensity weights (<c>IPS_CLIP</c>): an observation counts at most this many times.</summary>
    public const double DefaultIpsClip = 10;

    /// <summary>
    /// Row-major N×M observation weights: min(1/propensity, <paramref name="clip"/>) where a score is
    /// observed, 0 where it is not (a query graded for one model teaches nothing about the others).
    /// Null when every score is observed at propensity 1 (full information: every weight is 1).
    /// </summary>
    public static float[]? Weights(RoutingDataset data, double clip)
    {
        var m = data.ModelCount;
        var result = new float[data.Samples.Count * m];
        var uniform = true;
        for (var i = 0; i < data.Samples.Count; i++)
        {
            var s = data.Samples[i];
            for (var j = 0; j < m; j++)
            {
                var w = float.IsNaN(s.Scores[j]) ? 0f : (float)Math.Min(1.0 / s.Propensity(j), clip);
                result[i * m + j] = w;
                uniform &= w == 1f;
            }
        }
        return uniform ? null : result;
    }

    /// <summary>Row-major N×M scores with unobserved entries replaced by the model's mean.</summary>
    public static float[] Imputed(RoutingDataset data, float[] means)
    {
        var m = data.ModelCount;
        var result = new float[data.Samples.Count * m];
        for (var i = 0; i < data.Samples.Count; i++)
        {
            for (var j = 0; j < m; j++)
            {
                var v = data.Samples[i].Scores[j];
                result[i * m + j] = float.IsNaN(v) ? means[j] : v;
            }
        }
        return result;
    }
}
