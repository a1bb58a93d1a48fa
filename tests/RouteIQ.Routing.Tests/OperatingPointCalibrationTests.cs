using System.Collections;
using System.Text.Json;
using RouteIQ.RouterTrainer;
using RouteIQ.Routing;
using RouteIQ.Testing;

namespace RouteIQ.Routing.Tests;

/// <summary>The trainer picks its cost weight from a target on a validation split and records the whole quality–price curve.</summary>
public sealed class OperatingPointCalibrationTests
{
    private static async Task<(int Exit, string Log, string Error, string Output)> Train(Hashtable extra)
    {
        var dir = TestInfra.TempDirectory("calibrate");
        File.WriteAllText(Path.Combine(dir, "train.json"), SyntheticData.LabelledJson(SyntheticData.Dataset(400, seed: 43)));
        File.WriteAllText(Path.Combine(dir, "llm.json"), SyntheticData.Catalogue());
        var output = Path.Combine(dir, "out");
        var env = new Hashtable
        {
            ["DATASET_PATH"] = Path.Combine(dir, "train.json"),
            ["LLM_DATA_PATH"] = Path.Combine(dir, "llm.json"),
            ["ROUTER_TYPE"] = "knn",
            ["K"] = "10",
            ["FEATURE_DIM"] = "256",
            ["TEST_SPLIT"] = "0.25",
            ["ROUTEIQ_OUTPUT_DIR"] = output,
        };
        foreach (DictionaryEntry e in extra)
        {
            env[e.Key] = e.Value;
        }
        var log = new StringWriter();
        var error = new StringWriter();
        var exit = await TrainerApp.RunAsync([], env, log, error, CancellationToken.None);
        return (exit, log.ToString(), error.ToString(), output);
    }

    [Fact]
    public async Task Target_price_ratio_picks_a_point_within_it_and_metrics_hold_the_whole_curve()
    {
        var (exit, log, error, output) = await Train(new Hashtable { ["TARGET_PRICE_RATIO"] = "0.7" });
        Assert.True(exit == 0, error + log);
        using var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "metrics.json")));
        var root = metrics.RootElement;
        var curve = root.GetProperty("operating_curve").EnumerateArray().ToList();
        Assert.True(curve.Count >= 3, $"a curve of {curve.Count} points");
        foreach (var p in curve)
        {
            foreach (var field in new[] { "cost_weight", "quality", "price", "price_ratio", "quality_ratio" })
            {
                Assert.Equal(JsonValueKind.Number, p.GetProperty(field).ValueKind);
            }
        }
        // Along the curve a larger cost weight never costs more.
        var prices = curve.Select(p => p.GetProperty("price").GetDouble()).ToList();
        Assert.True(prices.Zip(prices.Skip(1)).All(x => x.Second <= x.First + 1e-9));
        var chosen = root.GetProperty("operating_point");
        Assert.Equal("TARGET_PRICE_RATIO", chosen.GetProperty("target").GetString());
        Assert.True(chosen.GetProperty("target_met").GetBoolean());
        Assert.True(chosen.GetProperty("price_ratio").GetDouble() <= 0.7);
        Assert.Equal("math-pro", root.GetProperty("best_single").GetProperty("model").GetString());
        // The saved router serves at the chosen point, and held-out price stays near the target.
        using var model = RouterModel.Load(output);
        Assert.Equal(chosen.GetProperty("cost_weight").GetDouble(), model.CostWeight, 6);
        Assert.True(model.CostWeight > 0);
        Assert.True(root.GetProperty("price_ratio_vs_best_single").GetDouble() <= 0.8);
        Assert.Contains("calibrating the operating point on a validation split", log);
    }

    [Fact]
    public async Task Target_quality_ratio_picks_the_cheapest_point_reaching_it()
    {
        var (exit, _, error, output) = await Train(new Hashtable { ["TARGET_QUALITY_RATIO"] = "1.0", ["IPS_CLIP"] = "5", ["CALIBRATION_SPLIT"] = "0.25" });
        Assert.True(exit == 0, error);
        using var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "metrics.json")));
        var chosen = metrics.RootElement.GetProperty("operating_point");
        Assert.True(chosen.GetProperty("quality_ratio").GetDouble() >= 1.0);
        var cheaper = metrics.RootElement.GetProperty("operating_curve").EnumerateArray()
            .Where(p => p.GetProperty("price").GetDouble() < chosen.GetProperty("price").GetDouble());
        // Every cheaper point on the curve falls short (by more than its margin, so at least below the chosen one).
        Assert.All(cheaper, p => Assert.True(p.GetProperty("quality").GetDouble() < chosen.GetProperty("quality").GetDouble()));
    }

    [Theory]
    [InlineData("TARGET_PRICE_RATIO", "0.7", "COST_WEIGHT", "0.1", "TARGET_PRICE_RATIO")]
    [InlineData("TARGET_QUALITY_RATIO", "-1", null, null, "TARGET_QUALITY_RATIO")]
    [InlineData("CALIBRATION_SPLIT", "1.5", null, null, "CALIBRATION_SPLIT")]
    [InlineData("IPS_CLIP", "abc", null, null, "IPS_CLIP")]
    [InlineData("TARGET_PRICE", "0.7", null, null, "TARGET_PRICE")]
    public async Task Conflicting_or_bad_targets_are_refused_with_one_line_naming_the_setting(string k1, string v1, string? k2, string? v2, string named)
    {
        var extra = new Hashtable { [k1] = v1 };
        if (k2 is not null)
        {
            extra[k2] = v2;
        }
        var (exit, _, error, _) = await Train(extra);
        Assert.Equal(2, exit);
        Assert.StartsWith($"router-trainer: invalid input: {named}: ", error);
    }
}
