namespace RouteIQ.Routing;

/// <summary>How a router did on held-out queries, beside the best single model and the oracle.</summary>
public sealed record EvaluationResult
{
    public required string Router { get; init; }

    public double CostWeight { get; init; }

    public int Queries { get; init; }

    /// <summary>Share of queries routed to a model with the highest observed score for that query.</summary>
    public double RoutingAccuracy { get; init; }

    public double AverageQuality { get; init; }

    public double OracleQuality { get; init; }

    public double PercentOfOracle => OracleQuality == 0 ? 0 : 100 * AverageQuality / OracleQuality;

    public double AveragePrice { get; init; }

    public required IReadOnlyDictionary<string, double> CallShare { get; init; }

    public required string BestSingleModel { get; init; }

    public double BestSingleQuality { get; init; }

    public double BestSinglePrice { get; init; }

    /// <summary>Router's average price over the best single model's.</summary>
    public double PriceRatio => BestSinglePrice == 0 ? 0 : AveragePrice / BestSinglePrice;

    public Dictionary<string, double> ToMetrics(string prefix = "")
    {
        var metrics = new Dictionary<string, double>
        {
            [prefix + "routing_accuracy"] = RoutingAccuracy,
            [prefix + "avg_quality"] = AverageQuality,
            [prefix + "oracle_quality"] = OracleQuality,
            [prefix + "pct_of_oracle"] = PercentOfOracle,
            [prefix + "avg_price"] = AveragePrice,
            [prefix + "best_single_quality"] = BestSingleQuality,
            [prefix + "best_single_price"] = BestSinglePrice,
            [prefix + "price_ratio_vs_best_single"] = PriceRatio,
            [prefix + "test_queries"] = Queries,
        };
        foreach (var (model, share) in CallShare)
        {
            metrics[$"{prefix}share.{model}"] = share;
        }
        return metrics;
    }
}

/// <summary>One point of the quality–cost curve.</summary>
public sealed record SweepPoint(double CostWeight, double AverageQuality, double AveragePrice, double PercentOfOracle);

/// <summary>Evaluates routers and baselines on a held-out split.</summary>
public static class RoutingEvaluator
{
    /// <summary>The model with the highest mean score on <paramref name="train"/> (the best single model).</summary>
    public static int BestSingle(RoutingDataset train)
    {
        var means = ScoreMatrix.ColumnMeans(train);
        var best = 0;
        for (var m = 1; m < means.Length; m++)
        {
            if (means[m] > means[best] || (means[m] == means[best] && train.Prices[m] < train.Prices[best]))
            {
                best = m;
            }
        }
        return best;
    }

    /// <summary>Per-query predicted scores of a trained router.</summary>
    public static float[][] Predict(RouterModel model, RoutingDataset test, int maxDegreeOfParallelism = -1)
    {
        var result = new float[test.Samples.Count][];
        Parallel.For(0, result.Length, new ParallelOptions { MaxDegreeOfParallelism = maxDegreeOfParallelism }, i =>
        {
            result[i] = new float[model.Models.Count];
            model.Predict(test.Samples[i].Query, result[i]);
        });
        return result;
    }

    /// <summary>Predictions of a baseline: <c>best-single</c>, <c>cheapest</c>, <c>random</c> or <c>oracle</c> (evaluation only: it reads the answers).</summary>
    public static float[][] Baseline(string name, RoutingDataset train, RoutingDataset test, ulong seed = 42)
    {
        var m = test.ModelCount;
        var rng = new SeededRandom(seed);
        var best = BestSingle(train);
        var cheapest = Enumerable.Range(0, m).OrderBy(j => test.Prices[j]).First();
        return test.Samples.Select(s =>
        {
            var scores = new float[m];
            switch (name)
            {
                case "best-single":
                    scores[best] = 1;
                    break;
                case "cheapest":
                    scores[cheapest] = 1;
                    break;
                case "random":
                    scores[rng.Next(m)] = 1;
                    break;
                case "oracle":
                    for (var j = 0; j < m; j++)
                    {
                        scores[j] = float.IsNaN(s.Scores[j]) ? -1 : s.Scores[j];
                    }
                    break;
                default:
                    throw new ArgumentException($"unknown baseline '{name}'", nameof(name));
            }
            return scores;
        }).ToArray();
    }

    public static EvaluationResult Evaluate(string router, float[][] predicted, RoutingDataset train, RoutingDataset test, double costWeight)
    {
        var m = test.ModelCount;
        var best = BestSingle(train);
        var counts = new int[m];
        double quality = 0, oracle = 0, price = 0, bestQuality = 0;
        var correct = 0;
        for (var i = 0; i < test.Samples.Count; i++)
        {
            var observed = test.Samples[i].Scores;
            var chosen = Selection.Choose(predicted[i], test.Prices, costWeight);
            counts[chosen]++;
            var top = observed.Where(v => !float.IsNaN(v)).DefaultIfEmpty(0f).Max();
            var got = float.IsNaN(observed[chosen]) ? 0f : observed[chosen];
            quality += got;
            oracle += top;
            price += test.Prices[chosen];
            bestQuality += float.IsNaN(observed[best]) ? 0f : observed[best];
            if (got >= top - 1e-9)
            {
                correct++;
            }
        }
        var n = Math.Max(1, test.Samples.Count);
        return new EvaluationResult
        {
            Router = router,
            CostWeight = costWeight,
            Queries = test.Samples.Count,
            RoutingAccuracy = (double)correct / n,
            AverageQuality = quality / n,
            OracleQuality = oracle / n,
            AveragePrice = price / n,
            CallShare = Enumerable.Range(0, m).ToDictionary(j => test.Models[j], j => (double)counts[j] / n),
            BestSingleModel = test.Models[best],
            BestSingleQuality = bestQuality / n,
            BestSinglePrice = test.Prices[best],
        };
    }

    /// <summary>Quality and price for each λ in <paramref name="costWeights"/>: the quality–cost curve.</summary>
    public static IReadOnlyList<SweepPoint> Sweep(float[][] predicted, RoutingDataset train, RoutingDataset test, IEnumerable<double> costWeights) =>
        costWeights.Select(l =>
        {
            var r = Evaluate("sweep", predicted, train, test, l);
            return new SweepPoint(l, r.AverageQuality, r.AveragePrice, r.PercentOfOracle);
        }).ToList();

    public static readonly double[] DefaultSweep = [0, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1];
}
