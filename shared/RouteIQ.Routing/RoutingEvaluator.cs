namespace RouteIQ.Routing;

/// <summary>How a router did on held-out queries, beside the best single model and the oracle.</summary>
public sealed record EvaluationResult
{
    public required string Router { get; init; }

    public double CostWeight { get; init; }

    public int Queries { get; init; }

    /// <summary>Share of queries routed to a model with the highest observed score for that query (among those whose choice was graded).</summary>
    public double RoutingAccuracy { get; init; }

    public double AverageQuality { get; init; }

    public double OracleQuality { get; init; }

    public double PercentOfOracle => OracleQuality == 0 ? 0 : 100 * AverageQuality / OracleQuality;

    public double AveragePrice { get; init; }

    public required IReadOnlyDictionary<string, double> CallShare { get; init; }

    public required string BestSingleModel { get; init; }

    public double BestSingleQuality { get; init; }

    public double BestSinglePrice { get; init; }

    /// <summary>Share of queries whose chosen model was graded (1 on full-information data); the qualities are estimated from these.</summary>
    public double GradedChoiceShare { get; init; } = 1;

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
            [prefix + "graded_choice_share"] = GradedChoiceShare,
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

    /// <summary>
    /// Quality, price and call shares of <paramref name="predicted"/>'s choices on <paramref name="test"/>.
    /// On full-information data (every model graded) a choice's quality is its grade. On logged data
    /// (one graded model per query, with its selection probability) a query whose chosen model was not
    /// graded tells nothing about that choice: qualities are self-normalised inverse-propensity
    /// estimates over the queries whose choice was graded (weights min(1/propensity, clip)), never an
    /// unobserved grade counted as 0. Without propensities that is the mean over the graded choices.
    /// </summary>
    public static EvaluationResult Evaluate(string router, float[][] predicted, RoutingDataset train, RoutingDataset test, double costWeight, double ipsClip = ScoreMatrix.DefaultIpsClip)
    {
        var m = test.ModelCount;
        var best = BestSingle(train);
        var counts = new int[m];
        double quality = 0, weights = 0, oracle = 0, oracleCount = 0, price = 0, bestQuality = 0, bestWeights = 0;
        int correct = 0, graded = 0;
        for (var i = 0; i < test.Samples.Count; i++)
        {
            var sample = test.Samples[i];
            var observed = sample.Scores;
            var chosen = Selection.Choose(predicted[i], test.Prices, costWeight);
            counts[chosen]++;
            price += test.Prices[chosen];
            var top = float.NegativeInfinity;
            foreach (var v in observed)
            {
                top = float.IsNaN(v) ? top : Math.Max(top, v);
            }
            if (!float.IsNegativeInfinity(top))
            {
                oracle += top;
                oracleCount++;
            }
            if (!float.IsNaN(observed[chosen]))
            {
                var w = Math.Min(1.0 / sample.Propensity(chosen), ipsClip);
                quality += w * observed[chosen];
                weights += w;
                graded++;
                correct += observed[chosen] >= top - 1e-9 ? 1 : 0;
            }
            if (!float.IsNaN(observed[best]))
            {
                var w = Math.Min(1.0 / sample.Propensity(best), ipsClip);
                bestQuality += w * observed[best];
                bestWeights += w;
            }
        }
        var n = Math.Max(1, test.Samples.Count);
        return new EvaluationResult
        {
            Router = router,
            CostWeight = costWeight,
            Queries = test.Samples.Count,
            RoutingAccuracy = graded == 0 ? 0 : (double)correct / graded,
            AverageQuality = weights == 0 ? 0 : quality / weights,
            OracleQuality = oracleCount == 0 ? 0 : oracle / oracleCount,
            AveragePrice = price / n,
            CallShare = Enumerable.Range(0, m).ToDictionary(j => test.Models[j], j => (double)counts[j] / n),
            BestSingleModel = test.Models[best],
            BestSingleQuality = bestWeights == 0 ? 0 : bestQuality / bestWeights,
            BestSinglePrice = test.Prices[best],
            GradedChoiceShare = (double)graded / n,
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
