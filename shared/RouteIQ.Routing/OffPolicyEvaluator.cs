namespace RouteIQ.Routing;

/// <summary>An estimate with its 95 % confidence interval.</summary>
public sealed record PolicyEstimate(double Value, double CiLow, double CiHigh)
{
    public bool Covers(double truth) => truth >= CiLow && truth <= CiHigh;
}

/// <summary>One logged decision as the estimators see it: the index of the logged model, its label and the logging propensity.</summary>
public readonly record struct LoggedChoice(int Model, double Label, double Propensity);

/// <summary>What a router's policy would score on logged data it did not choose.</summary>
public sealed record OffPolicyResult
{
    /// <summary>Logged decisions used.</summary>
    public int N { get; init; }

    /// <summary>Records where the evaluated policy chose the logged model.</summary>
    public int Matched { get; init; }

    /// <summary>The logging policy's own mean label (on-policy, no estimation).</summary>
    public double LoggingPolicyMean { get; init; }

    public required PolicyEstimate Ips { get; init; }

    public required PolicyEstimate Snips { get; init; }

    /// <summary>Doubly robust, with the router's predicted scores as the reward model.</summary>
    public required PolicyEstimate Dr { get; init; }

    /// <summary>Records whose logged model the router does not know (it never chooses them; they still count in DR's direct part).</summary>
    public int UnknownModels { get; init; }

    /// <summary>The evaluated policy's average price per the catalogue the router carries.</summary>
    public double AveragePrice { get; init; }
}

/// <summary>
/// Off-policy evaluation of a routing policy from logged decisions (query, model, label,
/// propensity): inverse propensity scoring (IPS), self-normalised IPS (SNIPS) and doubly robust
/// (DR: the reward model's value of the policy's choice plus the propensity-weighted residual of the
/// logged label). 95 % intervals are normal approximations of the per-record terms (SNIPS by the
/// delta method). Propensities are used as logged, unclipped, so IPS and DR stay unbiased.
/// </summary>
public static class OffPolicyEvaluator
{
    private const double Z95 = 1.959963984540054;

    /// <summary>
    /// The estimators for a policy given, per record, the probability it gives each model
    /// (<paramref name="policy"/>) and the reward model's predicted label of each model (<paramref name="rewardModel"/>).
    /// </summary>
    public static OffPolicyResult Estimate(IReadOnlyList<LoggedChoice> logged, IReadOnlyList<double[]> policy, IReadOnlyList<float[]> rewardModel)
    {
        var n = logged.Count;
        if (n == 0)
        {
            throw new RoutingDataException("dataset", "holds no logged decisions to evaluate");
        }
        if (policy.Count != n || rewardModel.Count != n)
        {
            throw new ArgumentException("one policy row and one reward-model row per logged decision");
        }
        var ips = new double[n];
        var dr = new double[n];
        var weights = new double[n];
        var labels = new double[n];
        var matched = 0;
        var unknown = 0;
        for (var i = 0; i < n; i++)
        {
            var (a, r, p) = logged[i];
            if (p is <= 0 or > 1 || !double.IsFinite(p))
            {
                throw new RoutingDataException("propensity", $"record {i} has propensity {p}, expected (0, 1]");
            }
            var pi = policy[i];
            var known = a >= 0 && a < pi.Length;
            unknown += known ? 0 : 1;
            var target = known ? pi[a] : 0;
            matched += target >= 0.5 ? 1 : 0;
            var w = target / p;
            weights[i] = w;
            labels[i] = r;
            ips[i] = w * r;
            var direct = 0.0;
            for (var m = 0; m < pi.Length; m++)
            {
                direct += pi[m] * rewardModel[i][m];
            }
            dr[i] = direct + (known ? w * (r - rewardModel[i][a]) : 0);
        }
        var meanWeight = weights.Average();
        var snips = meanWeight > 0 ? ips.Sum() / weights.Sum() : 0;
        var snipsTerms = new double[n];
        for (var i = 0; i < n; i++)
        {
            snipsTerms[i] = meanWeight > 0 ? weights[i] * (labels[i] - snips) / meanWeight : 0;
        }
        return new OffPolicyResult
        {
            N = n,
            Matched = matched,
            LoggingPolicyMean = labels.Average(),
            Ips = Normal(ips),
            Snips = Normal(snipsTerms, snips),
            Dr = Normal(dr),
            UnknownModels = unknown,
        };
    }

    /// <summary>
    /// Evaluates <paramref name="router"/>'s deterministic cost-aware choice (at <paramref name="costWeight"/>,
    /// default the router's own) on logged observations; the router's predicted scores are DR's reward model.
    /// </summary>
    public static OffPolicyResult Evaluate(RouterModel router, IReadOnlyList<LoggedObservation> logged, double? costWeight = null, int maxDegreeOfParallelism = -1)
    {
        var index = router.Models.Select((m, k) => (m, k)).ToDictionary(x => x.m, x => x.k, StringComparer.Ordinal);
        var lambda = costWeight ?? router.CostWeight;
        var m = router.Models.Count;
        var scores = new float[logged.Count][];
        var policy = new double[logged.Count][];
        var prices = new double[logged.Count];
        // One prediction per distinct query: logged data repeats queries.
        var distinct = logged.Select(o => o.Query).Distinct(StringComparer.Ordinal).ToArray();
        var predicted = new Dictionary<string, float[]>(distinct.Length, StringComparer.Ordinal);
        var rows = new float[distinct.Length][];
        Parallel.For(0, distinct.Length, new ParallelOptions { MaxDegreeOfParallelism = maxDegreeOfParallelism }, i =>
        {
            rows[i] = new float[m];
            router.Predict(distinct[i], rows[i]);
        });
        for (var i = 0; i < distinct.Length; i++)
        {
            predicted[distinct[i]] = rows[i];
        }
        var choices = new LoggedChoice[logged.Count];
        for (var i = 0; i < logged.Count; i++)
        {
            var o = logged[i];
            scores[i] = predicted[o.Query];
            var chosen = Selection.Choose(scores[i], router.Prices, lambda);
            policy[i] = new double[m];
            policy[i][chosen] = 1;
            prices[i] = router.Prices[chosen];
            choices[i] = new LoggedChoice(index.GetValueOrDefault(o.Model, -1), o.Score, o.Propensity);
        }
        return Estimate(choices, policy, scores) with { AveragePrice = prices.Length == 0 ? 0 : prices.Average() };
    }

    private static PolicyEstimate Normal(double[] terms, double? center = null)
    {
        var n = terms.Length;
        var mean = terms.Average();
        var variance = n > 1 ? terms.Sum(t => (t - mean) * (t - mean)) / (n - 1) : 0;
        var half = Z95 * Math.Sqrt(variance / n);
        var value = center ?? mean;
        return new PolicyEstimate(value, value - half, value + half);
    }
}
