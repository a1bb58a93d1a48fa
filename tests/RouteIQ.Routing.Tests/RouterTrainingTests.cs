using RouteIQ.Routing;

namespace RouteIQ.Routing.Tests;

public sealed class RouterTrainingTests
{
    [Theory]
    [InlineData("knn")]
    [InlineData("mlp")]
    [InlineData("mf")]
    public void Router_learns_the_known_best_model_for_each_topic(string type)
    {
        var train = SyntheticData.Dataset(240, seed: 1);
        using var model = SyntheticData.Spec(type).Train(train);

        var queries = SyntheticData.Queries(90, seed: 99);
        var correct = queries.Count(q => model.Route(q.Query).ModelIndex == q.Topic);

        Assert.True(correct >= 0.9 * queries.Count, $"{type} routed {correct}/{queries.Count} queries to the right model");
        Assert.Equal(type, model.RouterType);
    }

    [Theory]
    [InlineData("knn")]
    [InlineData("mlp")]
    public void Predicted_scores_track_the_observed_scores(string type)
    {
        using var model = SyntheticData.Spec(type).Train(SyntheticData.Dataset(240, seed: 2));
        var scores = new float[3];

        model.Predict("solve the integral of this polynomial equation", scores);

        Assert.InRange(scores[0], 0.7f, 1.05f);
        Assert.InRange(scores[2], -0.05f, 0.4f);
    }

    [Fact]
    public void Cost_weight_moves_traffic_to_the_cheaper_model_when_quality_is_close()
    {
        using var model = SyntheticData.Spec("knn").Train(SyntheticData.Dataset(240, seed: 3));
        const string query = "tell me a joke about the weather and a movie";

        // Chat queries: chat-lite 0.9 at $0.1 vs math-pro 0.6 at $1.0 — the cheap model wins already at λ=0.
        Assert.Equal("chat-lite", model.Route(query, costWeight: 0).Model);
        // Math queries: math-pro 1.0 vs chat-lite 0.1 — only a large λ (quality gap 0.9 < λ·0.9) flips it.
        Assert.Equal("math-pro", model.Route("solve the integral equation theorem", costWeight: 0).Model);
        Assert.Equal("math-pro", model.Route("solve the integral equation theorem", costWeight: 0.5).Model);
        Assert.Equal("chat-lite", model.Route("solve the integral equation theorem", costWeight: 2).Model);
    }

    [Fact]
    public void Selection_breaks_ties_toward_the_cheaper_model()
    {
        Assert.Equal(1, Selection.Choose([0.5f, 0.5f], [1.0, 0.2], 0));
        Assert.Equal(0, Selection.Choose([0.9f, 0.5f], [1.0, 0.2], 0.1));
        Assert.Equal(1, Selection.Choose([0.9f, 0.5f], [1.0, 0.2], 1));
    }

    [Fact]
    public void Evaluation_reports_router_baselines_and_oracle_on_held_out_queries()
    {
        var data = SyntheticData.Dataset(300, seed: 4);
        var (train, test) = data.Split(0.3, seed: 5);
        using var model = SyntheticData.Spec("knn").Train(train);

        var router = RoutingEvaluator.Evaluate("knn", RoutingEvaluator.Predict(model, test), train, test, 0);
        var oracle = RoutingEvaluator.Evaluate("oracle", RoutingEvaluator.Baseline("oracle", train, test), train, test, 0);
        var best = RoutingEvaluator.Evaluate("best-single", RoutingEvaluator.Baseline("best-single", train, test), train, test, 0);
        var cheapest = RoutingEvaluator.Evaluate("cheapest", RoutingEvaluator.Baseline("cheapest", train, test), train, test, 0);

        Assert.Equal(1.0, oracle.RoutingAccuracy, 6);
        Assert.Equal(100.0, oracle.PercentOfOracle, 6);
        Assert.Equal("math-pro", best.BestSingleModel);
        Assert.Equal(1.0, best.CallShare["math-pro"], 6);
        Assert.Equal(best.BestSingleQuality, best.AverageQuality, 6);
        Assert.Equal(0.1, cheapest.AveragePrice, 6);
        Assert.True(router.AverageQuality > best.AverageQuality, $"router {router.AverageQuality} vs best single {best.AverageQuality}");
        Assert.True(router.AveragePrice < best.AveragePrice);
        Assert.True(router.RoutingAccuracy > 0.9);
        Assert.Equal(1.0, router.CallShare.Values.Sum(), 6);
        Assert.True(test.Samples.Count is > 50 and < 130);
    }

    [Fact]
    public void Cost_sweep_trades_quality_for_price_monotonically()
    {
        var data = SyntheticData.Dataset(300, seed: 6);
        var (train, test) = data.Split(0.3, seed: 6);
        using var model = SyntheticData.Spec("mlp").Train(train);

        var curve = RoutingEvaluator.Sweep(RoutingEvaluator.Predict(model, test), train, test, [0, 0.5, 2, 10]);

        Assert.Equal(4, curve.Count);
        for (var i = 1; i < curve.Count; i++)
        {
            Assert.True(curve[i].AveragePrice <= curve[i - 1].AveragePrice + 1e-9);
        }
        Assert.Equal(0.1, curve[^1].AveragePrice, 6);
    }

    [Fact]
    public void Split_keeps_every_query_on_one_side_and_is_reproducible()
    {
        var data = SyntheticData.Dataset(200, seed: 8);
        var (train1, test1) = data.Split(0.25, seed: 1);
        var (train2, test2) = data.Split(0.25, seed: 1);

        Assert.Equal(test1.Samples.Select(s => s.Query), test2.Samples.Select(s => s.Query));
        Assert.Empty(train1.Samples.Select(s => s.Query).Intersect(test1.Samples.Select(s => s.Query)));
        Assert.Equal(200, train1.Samples.Count + test1.Samples.Count);
        Assert.Equal(train1.Samples.Count, train2.Samples.Count);
    }
}
