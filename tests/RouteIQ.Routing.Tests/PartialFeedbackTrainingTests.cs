using System.Text.Json;
using RouteIQ.Routing;
using Xunit.Abstractions;

namespace RouteIQ.Routing.Tests;

/// <summary>
/// Trainers learn from logged, partial feedback: one graded model per query, weighted by clipped
/// inverse propensity; a query graded for one model teaches nothing about the others.
/// </summary>
public sealed class PartialFeedbackTrainingTests(ITestOutputHelper output)
{
    private static readonly Dictionary<string, double> Catalogue = SyntheticData.Models.Select((m, j) => (m, j)).ToDictionary(x => x.m, x => SyntheticData.Prices[x.j]);

    [Fact]
    public void The_loader_reads_propensity_and_label_source_and_old_lines_default_to_one_and_formula()
    {
        var jsonl = string.Join('\n',
            JsonSerializer.Serialize(new { query = "q1", model_name = "math-pro", performance = 0.9, propensity = 0.25, label_source = "feedback:judge" }),
            JsonSerializer.Serialize(new { query = "q2", model_name = "chat-lite", performance = 0.4 }),
            JsonSerializer.Serialize(new { query = "q2", model_name = "code-pro", performance = 0.7, propensity = 0.5, label_source = "formula" }));
        var observations = DatasetLoader.ReadObservations(new StringReader(jsonl), "t.jsonl");
        Assert.Equal([0.25, 1.0, 0.5], observations.Select(o => o.Propensity));
        Assert.Equal(["feedback:judge", "formula", "formula"], observations.Select(o => o.LabelSource));
        Assert.True(observations[0].IsGraded);
        var data = DatasetLoader.ReadRoutingJsonl(new StringReader(jsonl), "t.jsonl", Catalogue);
        Assert.True(data.HasPropensities);
        var q1 = data.Samples[0];
        Assert.Equal(0.25f, q1.Propensity(data.Models.ToList().IndexOf("math-pro")));
        Assert.True(float.IsNaN(q1.Scores[data.Models.ToList().IndexOf("chat-lite")]));
        Assert.Equal(1f, data.Samples[1].Propensity(data.Models.ToList().IndexOf("chat-lite")));

        // Old datasets (no columns) load with every propensity 1 and no propensity arrays.
        var old = DatasetLoader.ReadRoutingJsonl(new StringReader(JsonSerializer.Serialize(new { query = "q", model_name = "math-pro", performance = 1 })), "old.jsonl", Catalogue);
        Assert.False(old.HasPropensities);
    }

    [Theory]
    [InlineData("\"propensity\":0", "t.jsonl:1.propensity")]
    [InlineData("\"propensity\":1.5", "t.jsonl:1.propensity")]
    [InlineData("\"propensity\":\"high\"", "t.jsonl:1.propensity")]
    [InlineData("\"label_source\":\"guess\"", "t.jsonl:1.label_source")]
    public void Bad_logged_columns_are_refused_naming_the_field(string column, string field)
    {
        var line = $"{{\"query\":\"q\",\"model_name\":\"math-pro\",\"performance\":1,{column}}}";
        var ex = Assert.Throws<RoutingDataException>(() => DatasetLoader.ReadObservations(new StringReader(line), "t.jsonl"));
        Assert.Equal(field, ex.Field);
    }

    /// <summary>
    /// A held-out split of logged data (one graded model per query, drawn by a skewed logging policy
    /// whose probabilities are recorded) estimates what the full-information split measures: a choice
    /// whose grade was not logged is no zero. Five logging seeds.
    /// </summary>
    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    [InlineData(3UL)]
    [InlineData(4UL)]
    [InlineData(5UL)]
    public void Held_out_evaluation_of_logged_data_estimates_the_full_information_quality(ulong seed)
    {
        var train = SyntheticData.Dataset(600, seed);
        var test = SyntheticData.Dataset(3000, seed + 100);
        using var model = new RouterSpec().Train(train);
        var predicted = RoutingEvaluator.Predict(model, test);
        var truth = RoutingEvaluator.Evaluate("mlp", predicted, train, test, 0);

        float[] logging = [0.6f, 0.3f, 0.1f];
        var rng = new SeededRandom(seed * 7919);
        var logged = test.WithSamples(test.Samples.Select(s =>
        {
            var u = rng.NextDouble();
            var m = u < logging[0] ? 0 : u < logging[0] + logging[1] ? 1 : 2;
            var scores = new[] { float.NaN, float.NaN, float.NaN };
            var propensities = new[] { float.NaN, float.NaN, float.NaN };
            scores[m] = s.Scores[m];
            propensities[m] = logging[m];
            return new RoutingSample(s.Query, scores, propensities);
        }).ToList());
        var estimate = RoutingEvaluator.Evaluate("mlp", predicted, train, logged, 0);

        output.WriteLine($"seed {seed}: truth {truth.AverageQuality:F4} (best single {truth.BestSingleQuality:F4}); logged estimate {estimate.AverageQuality:F4} " +
            $"(best single {estimate.BestSingleQuality:F4}) from {estimate.GradedChoiceShare:P0} graded choices");
        Assert.Equal(1, truth.GradedChoiceShare);
        Assert.InRange(estimate.GradedChoiceShare, 0.05, 0.9);
        Assert.InRange(estimate.AverageQuality, truth.AverageQuality - 0.03, truth.AverageQuality + 0.03);
        Assert.InRange(estimate.BestSingleQuality, truth.BestSingleQuality - 0.03, truth.BestSingleQuality + 0.03);
        Assert.Equal(truth.AveragePrice, estimate.AveragePrice, 9);
    }

    /// <summary>
    /// Math queries: half were graded only for math-pro (0.2), half only for chat-lite (0.9). The
    /// other topics grade math-pro high, so math-pro's mean is high: imputing that mean for the
    /// queries that never saw math-pro would pull its prediction on math queries far above 0.2.
    /// </summary>
    [Fact]
    public void Knn_does_not_impute_scores_for_models_a_query_was_not_graded_for()
    {
        var rng = new SeededRandom(5);
        var samples = new List<RoutingSample>();
        for (var i = 0; i < 300; i++)
        {
            var (q, topic) = SyntheticData.Query(rng);
            var scores = new[] { float.NaN, float.NaN, float.NaN };
            if (topic == 0)
            {
                if (i % 2 == 0)
                {
                    scores[0] = 0.2f;
                }
                else
                {
                    scores[2] = 0.9f;
                }
            }
            else
            {
                scores[0] = 1f;
                scores[1] = 0.5f;
                scores[2] = 0.5f;
            }
            samples.Add(new RoutingSample(q, scores));
        }
        var data = new RoutingDataset(SyntheticData.Models, SyntheticData.Prices, samples);
        using var model = (SyntheticData.Spec("knn") with { Knn = new KnnOptions { K = 10, Lists = 0 } }).Train(data);
        var predicted = new float[3];
        model.Predict("solve the integral equation theorem polynomial", predicted);
        output.WriteLine($"math-pro {predicted[0]:F3} chat-lite {predicted[2]:F3}");
        Assert.True(Math.Abs(predicted[0] - 0.2f) < 0.15, $"math-pro predicted {predicted[0]}, its grades on math queries are 0.2");
        Assert.True(Math.Abs(predicted[2] - 0.9f) < 0.15, $"chat-lite predicted {predicted[2]}, its grades on math queries are 0.9");
        Assert.Equal("chat-lite", model.Route("solve the integral equation theorem polynomial").Model);
    }

    [Theory]
    [InlineData(10.0, 0.1)]
    [InlineData(1.0, 0.5)]
    public void Knn_weights_observations_by_clipped_inverse_propensity(double clip, double expected)
    {
        // Two neighbours graded for math-pro: 1.0 logged at propensity 0.9, 0.0 at propensity 0.1.
        // Weighted by 1/p the rarely logged grade counts 9 times as much: (1.11·1 + 10·0) / 11.11 ≈ 0.1.
        var data = new RoutingDataset(SyntheticData.Models, SyntheticData.Prices,
        [
            new RoutingSample("integral equation theorem alpha", [1f, float.NaN, float.NaN], [0.9f, float.NaN, float.NaN]),
            new RoutingSample("integral equation theorem beta", [0f, float.NaN, float.NaN], [0.1f, float.NaN, float.NaN]),
        ]);
        var spec = SyntheticData.Spec("knn") with { IpsClip = clip, Knn = new KnnOptions { K = 2, Power = 0, PriorWeight = 0, Lists = 0 } };
        using var model = spec.Train(data);
        var predicted = new float[3];
        model.Predict("integral equation theorem", predicted);
        Assert.Equal(expected, predicted[0], 2);
    }

    [Fact]
    public void An_ips_clip_below_one_is_refused_naming_it()
    {
        var ex = Assert.Throws<RoutingDataException>(() => (SyntheticData.Spec("knn") with { IpsClip = 0.5 }).Validate());
        Assert.Equal("IPS_CLIP", ex.Field);
    }

    /// <summary>
    /// A logging policy that favours chat-lite (ε = 0.5 around it) grades one model per query. Every
    /// head must still learn each topic's best model from those grades alone.
    /// </summary>
    [Theory]
    [InlineData("knn")]
    [InlineData("mlp")]
    [InlineData("mf")]
    public void Every_head_learns_the_routes_from_one_logged_model_per_query(string type)
    {
        var rng = new SeededRandom(99);
        var observations = new List<LoggedObservation>();
        for (var i = 0; i < 900; i++)
        {
            var (q, topic) = SyntheticData.Query(rng);
            var explore = rng.NextDouble() < 0.5;
            var chosen = explore ? rng.Next(3) : 2;
            var propensity = chosen == 2 ? 0.5 + 0.5 / 3 : 0.5 / 3;
            observations.Add(new LoggedObservation(q, SyntheticData.Models[chosen], SyntheticData.Scores(topic)[chosen], propensity, "feedback:judge"));
        }
        var data = DatasetLoader.FromObservations(observations, "logged", Catalogue);
        Assert.All(data.Samples, s => Assert.Equal(1, s.Scores.Count(v => !float.IsNaN(v))));
        using var model = SyntheticData.Spec(type).Train(data);
        var queries = SyntheticData.Queries(300, 1234);
        var correct = queries.Count(q => model.Route(q.Query, costWeight: 0).Model == SyntheticData.Models[q.Topic]);
        output.WriteLine($"{type}: {correct}/300 routed to the topic's best model");
        Assert.True(correct >= 255, $"{type} routed {correct}/300 correctly from logged partial feedback");
    }
}
