namespace RouteIQ.Routing;

/// <summary>One point of the quality–price curve, with both ratios against the best single model.</summary>
public sealed record OperatingPoint(double CostWeight, double Quality, double Price, double PriceRatio, double QualityRatio);

/// <summary>How the trainer picks its cost weight: a price ratio, a quality ratio, or a raw λ.</summary>
public sealed record OperatingTarget(string Kind, double Value)
{
    public const string PriceRatio = "TARGET_PRICE_RATIO";
    public const string QualityRatio = "TARGET_QUALITY_RATIO";
    public const string CostWeight = "COST_WEIGHT";

    public override string ToString() => $"{Kind}={Value}";
}

/// <summary>The sweep on the validation split and the point chosen from it.</summary>
public sealed record Calibration(
    IReadOnlyList<OperatingPoint> Curve,
    OperatingPoint Chosen,
    OperatingTarget Target,
    bool TargetMet,
    string BestSingleModel,
    double BestSingleQuality,
    double BestSinglePrice,
    int ValidationQueries);

/// <summary>
/// Calibrated operating points: sweeps λ of the cost-aware choice (score − λ·price) over a grid
/// spanning the catalogue's prices, scores each λ on a validation split and picks the point that
/// meets a target. So nobody has to guess λ: ask for "70 % of the best single model's price" or
/// "99 % of its quality". Targets are met with a margin of one standard error of the validation
/// mean, so that a point on the edge does not miss it on new queries by noise alone.
/// </summary>
public static class OperatingPoints
{
    /// <summary>λ = 0 and 800 values log-spaced from 10⁻³/(price spread) to 1/(smallest price gap): the whole range where choices change.</summary>
    public static IReadOnlyList<double> Grid(IReadOnlyList<double> prices)
    {
        var distinct = prices.Distinct().Order().ToArray();
        if (distinct.Length < 2)
        {
            return [0];
        }
        var spread = distinct[^1] - distinct[0];
        var minGap = distinct.Zip(distinct.Skip(1), (a, b) => b - a).Min();
        var lo = Math.Log(1e-3 / spread);
        var hi = Math.Log(2 / minGap);
        const int steps = 800;
        var grid = new List<double> { 0 };
        for (var k = 0; k <= steps; k++)
        {
            grid.Add(Math.Exp(lo + (hi - lo) * k / steps));
        }
        return grid;
    }

    /// <summary>
    /// The quality–price curve on <paramref name="validation"/>: quality of the chosen model's observed
    /// score, or the router's own prediction where the chosen model was not observed (logged data).
    /// Points that repeat the previous one's choices are dropped.
    /// </summary>
    public static (IReadOnlyList<OperatingPoint> Curve, IReadOnlyList<(double QualitySe, double PriceSe)> Errors, int BestSingle, double BestQuality, double BestPrice)
        Curve(float[][] predicted, RoutingDataset train, RoutingDataset validation, IReadOnlyList<double>? grid = null)
    {
        var best = RoutingEvaluator.BestSingle(train);
        var n = validation.Samples.Count;
        var bestQuality = 0.0;
        for (var i = 0; i < n; i++)
        {
            var v = validation.Samples[i].Scores[best];
            bestQuality += float.IsNaN(v) ? predicted[i][best] : v;
        }
        bestQuality /= Math.Max(1, n);
        var bestPrice = validation.Prices[best];
        var curve = new List<OperatingPoint>();
        var errors = new List<(double, double)>();
        int[]? previous = null;
        foreach (var lambda in grid ?? Grid(validation.Prices))
        {
            var choices = new int[n];
            double q = 0, q2 = 0, p = 0, p2 = 0;
            for (var i = 0; i < n; i++)
            {
                var c = Selection.Choose(predicted[i], validation.Prices, lambda);
                choices[i] = c;
                var observed = validation.Samples[i].Scores[c];
                double quality = float.IsNaN(observed) ? predicted[i][c] : observed;
                q += quality;
                q2 += quality * quality;
                p += validation.Prices[c];
                p2 += validation.Prices[c] * validation.Prices[c];
            }
            if (previous is not null && choices.AsSpan().SequenceEqual(previous))
            {
                continue;
            }
            previous = choices;
            var count = Math.Max(1, n);
            var meanQ = q / count;
            var meanP = p / count;
            curve.Add(new OperatingPoint(lambda, meanQ, meanP, bestPrice == 0 ? 0 : meanP / bestPrice, bestQuality == 0 ? 0 : meanQ / bestQuality));
            errors.Add((Math.Sqrt(Math.Max(0, q2 / count - meanQ * meanQ) / count), Math.Sqrt(Math.Max(0, p2 / count - meanP * meanP) / count)));
        }
        return (curve, errors, best, bestQuality, bestPrice);
    }

    /// <summary>The seed the validation split is carved with (from the training seed), so it differs from the test split's.</summary>
    public static ulong ValidationSeed(ulong seed) => seed ^ 0xCA11_B4A7_E000_0017UL;

    /// <summary>
    /// The trainer's calibration: carves a validation split from <paramref name="train"/> (never the
    /// test split), trains <paramref name="spec"/> on the rest, sweeps the curve on the validation
    /// queries and picks the point. Returns that router (at the chosen cost weight: the curve
    /// describes exactly it), or null when the split would be empty. The caller disposes the router.
    /// </summary>
    public static (Calibration Calibration, RouterModel Router)? CalibrateSpec(RouterSpec spec, RoutingDataset train, OperatingTarget target, double validationFraction, int featurizeParallelism = 1)
    {
        if (validationFraction <= 0 || train.Samples.Count < 40)
        {
            return null;
        }
        var (fit, validation) = train.Split(validationFraction, ValidationSeed(spec.Seed));
        if (validation.Samples.Count == 0 || fit.Samples.Count == 0)
        {
            return null;
        }
        var model = spec.Train(fit, null, featurizeParallelism);
        var predicted = RoutingEvaluator.Predict(model, validation);
        var calibration = Calibrate(predicted, fit, validation, target);
        return (calibration, model.WithCostWeight(calibration.Chosen.CostWeight));
    }

    /// <summary>Sweeps the curve on <paramref name="validation"/> and picks the point <paramref name="target"/> asks for.</summary>
    public static Calibration Calibrate(float[][] predicted, RoutingDataset train, RoutingDataset validation, OperatingTarget target)
    {
        var (curve, errors, best, bestQuality, bestPrice) = Curve(predicted, train, validation);
        OperatingPoint? chosen = null;
        var met = true;
        switch (target.Kind)
        {
            case OperatingTarget.PriceRatio:
                // The best quality whose price, one standard error up, stays within r × the best single model's.
                for (var k = 0; k < curve.Count; k++)
                {
                    var priceHigh = bestPrice == 0 ? 0 : (curve[k].Price + errors[k].PriceSe) / bestPrice;
                    if (priceHigh <= target.Value + 1e-12 && (chosen is null || curve[k].Quality >= chosen.Quality - 1e-12))
                    {
                        chosen = curve[k];
                    }
                }
                if (chosen is null)
                {
                    met = false;
                    chosen = curve.MinBy(p => p.Price)!;
                }
                break;
            case OperatingTarget.QualityRatio:
                // The cheapest point whose quality, one standard error down, reaches q × the best single model's.
                for (var k = 0; k < curve.Count; k++)
                {
                    var qualityLow = bestQuality == 0 ? 0 : (curve[k].Quality - errors[k].QualitySe) / bestQuality;
                    if (qualityLow >= target.Value - 1e-12 && (chosen is null || curve[k].Price < chosen.Price - 1e-12))
                    {
                        chosen = curve[k];
                    }
                }
                if (chosen is null)
                {
                    met = false;
                    chosen = curve.MaxBy(p => p.Quality)!;
                }
                break;
            default:
                var single = Curve(predicted, train, validation, [target.Value]).Curve;
                chosen = single.Count > 0 ? single[0] : new OperatingPoint(target.Value, 0, 0, 0, 0);
                break;
        }
        return new Calibration(curve, chosen, target, met, validation.Models[best], bestQuality, bestPrice, validation.Samples.Count);
    }
}
