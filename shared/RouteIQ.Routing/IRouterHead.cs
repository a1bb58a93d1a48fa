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

internal static class ScoreMatrix
{
    /// <summary>Per-model mean of the observed scores (0 where a model has none).</summary>
    public static float[] ColumnMeans(RoutingDataset data)
    {
        var sums = new double[data.ModelCount];
        var counts = new int[data.ModelCount];
        foreach (var s in data.Samples)
        {
            for (var m = 0; m < sums.Length; m++)
            {
                if (!float.IsNaN(s.Scores[m]))
                {
                    sums[m] += s.Scores[m];
                    counts[m]++;
                }
            }
        }
        return sums.Select((v, m) => counts[m] == 0 ? 0f : (float)(v / counts[m])).ToArray();
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
