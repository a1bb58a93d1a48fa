using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using RouteIQ.TelemetryIngest.Drift;
using RouteIQ.TelemetryIngest.Inputs;
using RouteIQ.TelemetryIngest.Parsing;
using RouteIQ.TelemetryIngest.Store;
using RouteIQ.Testing;

namespace RouteIQ.TelemetryIngest.Tests;

/// <summary>The window statistics of a batch are exactly the per-decision counts, whatever the order, windows and bounded values.</summary>
public sealed class WindowStatisticsCountEveryDecisionTests
{
    private static DriftAccumulator Accumulator(int maxValues = 200)
        => new(Options.Create(new DriftOptions { WindowSeconds = 60, MaxValuesPerFeature = maxValues }));

    private static Dictionary<(long, string, string), (long Count, double QualitySum, long QualityCount)> Cells(DriftAccumulator accumulator)
        => accumulator.Drain().ToDictionary(c => (c.Key.WindowStartMs, c.Key.Feature, c.Key.Value), c => (c.Value.Count, Math.Round(c.Value.QualitySum, 9), c.Value.QualityCount));

    [Fact]
    public void A_batch_sums_to_the_counts_of_its_decisions_one_by_one()
    {
        var rng = new Random(5);
        string?[] models = ["gpt-4o", "gpt-4o-mini", null, "", "claude-3-haiku"];
        var decisions = Enumerable.Range(0, 3000).Select(i => new RouterDecision
        {
            EventId = $"e{i}",
            // Three windows, interleaved (a replay), and one before 1970 handled like any other.
            TimestampMs = rng.Next(3) * 60_000L + rng.Next(60_000) - (i % 500 == 0 ? 120_000 : 0),
            QueryLength = rng.Next(10) == 0 ? null : rng.Next(5000),
            RequestedModel = rng.Next(2) == 0 ? "auto" : $"model-{rng.Next(8)}",
            ApiType = "chat_completion",
            StrategyName = rng.Next(3) == 0 ? null : "llmrouter-knn",
            SelectedDeployment = models[rng.Next(models.Length)],
            OutcomeStatus = rng.Next(20) == 0 ? "error" : "success",
            Performance = rng.Next(4) == 0 ? rng.NextDouble() : null,
        }).ToList();
        var batched = Accumulator();
        batched.Add(decisions, 2500);
        batched.Add(decisions.Skip(2500).ToList(), 500);

        // One decision at a time: each its own batch.
        var single = Accumulator();
        foreach (var d in decisions)
        {
            single.Add([d], 1);
        }

        var expected = Cells(single);
        Assert.Equal(expected.OrderBy(c => c.Key).ToList(), Cells(batched).OrderBy(c => c.Key).ToList());
        Assert.Equal(3000, expected.Where(c => c.Key.Item2 == DriftFeatures.Total).Sum(c => c.Value.Count));

        // requested_model has 9 values; with 5 kept per feature the first seen stay and the rest count as (other): nothing is lost.
        var bounded = Accumulator(maxValues: 5);
        bounded.Add(decisions, 3000);
        var requested = Cells(bounded).Where(c => c.Key.Item2 == DriftFeatures.RequestedModel).ToList();
        Assert.Equal(3000, requested.Sum(c => c.Value.Count));
        Assert.Equal(5, requested.Select(c => c.Key.Item3).Where(v => v != "(other)").Distinct().Count());
        Assert.Contains(requested, c => c.Key.Item3 == "(other)");
        Assert.Equal(decisions.Count(d => d.Performance is not null), expected.Where(c => c.Key.Item2 == DriftFeatures.Quality).Sum(c => c.Value.QualityCount));
        Assert.Equal(decisions.Count(d => string.IsNullOrEmpty(d.SelectedDeployment)),
            expected.Where(c => c.Key.Item2 == DriftFeatures.SelectedModel && c.Key.Item3 == "(none)").Sum(c => c.Value.Count));
    }

    [Fact]
    public void A_grade_counts_as_feedback_in_its_own_window_and_as_quality_only_for_the_choice_it_grades()
    {
        var accumulator = Accumulator();
        accumulator.AddGrades(
        [
            new StoredGrade(GradeTimestampMs: 130_000, Score: 0.9, GradedModel: null, DecisionTimestampMs: 10_000, SelectedModel: "gpt-4o"),
            new StoredGrade(130_500, 0.5, "gpt-4o", 10_000, "gpt-4o"),
            new StoredGrade(131_000, 0.1, "claude-3-haiku", 10_000, "gpt-4o"), // a shadow grade of another model
            new StoredGrade(140_000, 0.3, null, null, null), // an orphan: its decision is not stored yet
        ]);

        var cells = Cells(accumulator);
        Assert.Equal(2, cells.Count);
        Assert.Equal(4, cells[(120_000, DriftFeatures.Feedback, "")].Count);
        Assert.Equal((0L, 1.4, 2L), cells[(0, DriftFeatures.Quality, "gpt-4o")]);
    }
}

/// <summary>
/// Both writers return the grades a batch stored, with the decision each names, and nothing for a
/// grade already stored — so a redelivered or retried grade reaches the window statistics once.
/// </summary>
[Trait("Category", "Integration")]
public sealed class StoredGradesReachTheStatisticsOnceTests
{
    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgresql")]
    public async Task Stored_grades_carry_their_decision_and_a_redelivered_grade_counts_once(string provider)
    {
        var settings = new Dictionary<string, string?> { ["RouteIQ:Telemetry:Drift:FlushMilliseconds"] = "600000" };
        if (provider == "postgresql")
        {
            settings["ConnectionStrings:RouteIQ"] = await TestInfra.CreateDatabaseAsync("ti_grades");
        }
        await using var host = await TelemetryHost.StartAsync("ti-grades-" + provider, settings);
        var ingest = host.Services.GetRequiredService<IngestService>();
        var accumulator = host.Services.GetRequiredService<DriftAccumulator>();
        var window = accumulator.WindowMs;
        RouterFeedback Grade(string id, string? decision, double score, string? model = null)
            => new() { FeedbackId = id, DecisionEventId = decision, Score = score, Source = FeedbackSources.Judge, ModelName = model, TimestampMs = 5 * window + 1 };

        var batch = new IngestBatch(IngestSources.Http);
        batch.Decisions.Add(new RouterDecision { EventId = "d-1", TimestampMs = window + 7, SelectedDeployment = "gpt-4o", OutcomeStatus = "success" });
        batch.Feedback.AddRange([Grade("f-1", "d-1", 0.8), Grade("f-2", "d-1", 0.2, "claude-3-haiku"), Grade("f-3", "d-404", 0.5), Grade("f-1", "d-1", 0.8)]);
        var first = await ingest.WriteAsync(batch, CancellationToken.None);

        Assert.Equal((3, 1), (first.FeedbackInserted, first.FeedbackDuplicates));
        Assert.Equal(
        [
            new StoredGrade(5 * window + 1, 0.2, "claude-3-haiku", window + 7, "gpt-4o"),
            new StoredGrade(5 * window + 1, 0.5, null, null, null),
            new StoredGrade(5 * window + 1, 0.8, null, window + 7, "gpt-4o"),
        ], first.Grades!.OrderBy(g => g.Score));

        // The same grades again (a redelivery) and one new: only the new one is returned and counted.
        var again = new IngestBatch(IngestSources.Bus);
        again.Feedback.AddRange([Grade("f-1", "d-1", 0.8), Grade("f-2", "d-1", 0.2, "claude-3-haiku"), Grade("f-4", "d-1", 0.6)]);
        var second = await ingest.WriteAsync(again, CancellationToken.None);
        Assert.Equal((1, 2), (second.FeedbackInserted, second.FeedbackDuplicates));

        var cells = accumulator.Drain();
        Assert.Equal(4, cells[new DriftAccumulator.Cell(5 * window, DriftFeatures.Feedback, "")].Count);
        var quality = cells[new DriftAccumulator.Cell(window, DriftFeatures.Quality, "gpt-4o")];
        Assert.Equal((2L, 1.4), (quality.QualityCount, Math.Round(quality.QualitySum, 9)));
        var repeat = new IngestBatch(IngestSources.Bus);
        repeat.Feedback.Add(Grade("f-4", "d-1", 0.6));
        Assert.Null((await ingest.WriteAsync(repeat, CancellationToken.None)).Grades);
        Assert.Empty(accumulator.Drain());
    }
}
