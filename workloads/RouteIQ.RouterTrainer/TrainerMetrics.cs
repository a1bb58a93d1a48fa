using System.Text.Json;
using System.Text.Json.Nodes;
using RouteIQ.Routing;

namespace RouteIQ.RouterTrainer;

/// <summary>
/// metrics.json: the flat numeric metrics (what the runner records), plus the calibration —
/// <c>operating_curve</c> (every {cost_weight, quality, price, price_ratio, quality_ratio} of the
/// validation sweep), <c>operating_point</c> (the chosen one, with the target) and <c>best_single</c>.
/// </summary>
public static class TrainerMetrics
{
    public static string Render(SortedDictionary<string, double> metrics, Calibration? calibration)
    {
        var root = new JsonObject();
        foreach (var (k, v) in metrics)
        {
            root[k] = v;
        }
        if (calibration is not null)
        {
            root["operating_curve"] = new JsonArray(calibration.Curve.Select(p => (JsonNode)Point(p)).ToArray());
            var chosen = Point(calibration.Chosen);
            chosen["target"] = calibration.Target.Kind;
            chosen["target_value"] = calibration.Target.Value;
            chosen["target_met"] = calibration.TargetMet;
            chosen["validation_queries"] = calibration.ValidationQueries;
            root["operating_point"] = chosen;
            root["best_single"] = new JsonObject
            {
                ["model"] = calibration.BestSingleModel,
                ["quality"] = Math.Round(calibration.BestSingleQuality, 6),
                ["price"] = calibration.BestSinglePrice,
            };
        }
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    private static JsonObject Point(OperatingPoint p) => new()
    {
        ["cost_weight"] = Math.Round(p.CostWeight, 9),
        ["quality"] = Math.Round(p.Quality, 6),
        ["price"] = Math.Round(p.Price, 6),
        ["price_ratio"] = Math.Round(p.PriceRatio, 6),
        ["quality_ratio"] = Math.Round(p.QualityRatio, 6),
    };
}
