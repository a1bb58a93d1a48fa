using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using RouteIQ.Contracts;
using RouteIQ.TelemetryIngest.Drift;
using RouteIQ.Testing;
using Xunit.Abstractions;

namespace RouteIQ.GatewayAdmin.Tests;

/// <summary>
/// PSI from window statistics separates a shifted query mix from sampling noise: seeded stable
/// streams (same distributions, fresh samples) are measured for their false-alarm rate, shifted ones
/// for their detection rate.
/// </summary>
public sealed class DriftPsiSeparatesShiftFromNoiseTests(ITestOutputHelper output)
{
    private static readonly string[] Buckets = ["<16", "<32", "<64", "<128", "<256", "<512"];
    private static readonly double[] StableLength = [0.05, 0.25, 0.35, 0.2, 0.1, 0.05];
    private static readonly double[] ShiftedLength = [0.02, 0.08, 0.2, 0.3, 0.25, 0.15];
    private static readonly string[] Models = ["gpt-4o", "gpt-4o-mini", "claude-3-haiku", "mistral-large", "gemini-1.5-flash"];
    private static readonly double[] ModelMix = [0.3, 0.25, 0.2, 0.15, 0.1];
    private static readonly string[] Outcomes = ["success", "fallback", "error", "timeout"];
    private static readonly double[] OutcomeMix = [0.92, 0.03, 0.03, 0.02];

    private static string Draw(Random rng, string[] values, double[] weights)
    {
        var u = rng.NextDouble();
        for (var i = 0; i < values.Length; i++)
        {
            u -= weights[i];
            if (u <= 0)
            {
                return values[i];
            }
        }
        return values[^1];
    }

    /// <summary>A window's statistics of <paramref name="n"/> decisions, as the accumulator keeps them.</summary>
    private static DriftEvaluator.FeatureSums Sample(Random rng, int n, bool shifted)
    {
        var counts = DriftFeatures.Compared.ToDictionary(f => f, _ => new Dictionary<string, long>(StringComparer.Ordinal));
        for (var i = 0; i < n; i++)
        {
            void Add(string feature, string value) => counts[feature][value] = counts[feature].GetValueOrDefault(value) + 1;
            Add(DriftFeatures.QueryLength, Draw(rng, Buckets, shifted ? ShiftedLength : StableLength));
            Add(DriftFeatures.RequestedModel, "auto");
            Add(DriftFeatures.ApiType, "chat_completion");
            Add(DriftFeatures.Strategy, rng.NextDouble() < 0.9 ? "llmrouter-knn" : "llmrouter-mlp");
            Add(DriftFeatures.SelectedModel, Draw(rng, Models, ModelMix));
            Add(DriftFeatures.Outcome, Draw(rng, Outcomes, OutcomeMix));
        }
        return new DriftEvaluator.FeatureSums(counts, 0, 0, n, 0);
    }

    [Theory]
    [InlineData(5000, 0.2, 200)]
    [InlineData(500, 0.2, 500)]
    public void Stable_streams_rarely_cross_the_threshold_and_shifted_streams_always_do(int samples, double threshold, int streams)
    {
        int falseAlarms = 0, detections = 0;
        var worstStable = 0.0;
        for (var seed = 0; seed < streams; seed++)
        {
            var rng = new Random(seed);
            var baseline = Sample(rng, samples, shifted: false);
            var stable = DriftEvaluator.PsiByFeature(baseline, Sample(rng, samples, shifted: false)).Values.Max();
            var shifted = DriftEvaluator.PsiByFeature(baseline, Sample(rng, samples, shifted: true));
            worstStable = Math.Max(worstStable, stable);
            falseAlarms += stable >= threshold ? 1 : 0;
            detections += shifted[DriftFeatures.QueryLength] >= threshold ? 1 : 0;
        }
        var rate = (double)falseAlarms / streams;
        output.WriteLine($"n={samples} threshold={threshold}: false alarms {falseAlarms}/{streams} ({rate:P2}), worst stable PSI {worstStable:F4}, detections {detections}/{streams}");

        Assert.True(rate <= 0.01, $"false-alarm rate {rate:P2}");
        Assert.Equal(streams, detections);
    }

    [Fact]
    public void Psi_of_identical_distributions_is_zero_and_grows_with_the_shift()
    {
        var p = new Dictionary<string, long> { ["a"] = 500, ["b"] = 300, ["c"] = 200 };
        var slightly = new Dictionary<string, long> { ["a"] = 450, ["b"] = 330, ["c"] = 220 };
        var strongly = new Dictionary<string, long> { ["a"] = 100, ["b"] = 300, ["c"] = 600 };

        Assert.Equal(0, DriftEvaluator.Psi(p, p), 9);
        Assert.InRange(DriftEvaluator.Psi(p, slightly), 0.001, 0.05);
        Assert.True(DriftEvaluator.Psi(p, strongly) > 0.5);
        // A bin the baseline never saw is finite (smoothed), not infinite.
        Assert.True(double.IsFinite(DriftEvaluator.Psi(p, new Dictionary<string, long> { ["a"] = 10, ["z"] = 990 })));
    }
}

/// <summary>
/// On real telemetry-ingest with PostgreSQL: decisions ingested over HTTP are summed per window;
/// drift against a built dataset's window fires for a shifted stream and not for a stable one,
/// and the new-decision counter is read from the statistics.
/// </summary>
[Trait("Category", "Integration")]
public sealed class DriftFromWindowStatisticsTests : IAsyncLifetime
{
    private WebApplication _telemetry = null!;

    public async Task InitializeAsync()
    {
        var vhost = await TestInfra.CreateVirtualHostAsync("drift");
        var db = await TestInfra.CreateDatabaseAsync("drift");
        _telemetry = await ContinuousTestWorld.StartTelemetryAsync(vhost, db);
    }

    public async Task DisposeAsync()
    {
        await _telemetry.StopAsync();
        await _telemetry.DisposeAsync();
    }

    [Fact]
    public async Task A_shifted_stream_drifts_and_a_stable_one_does_not()
    {
        var t0 = ContinuousTestWorld.DaysAgo(2);
        await ContinuousTestWorld.IngestAsync(_telemetry, ContinuousTestWorld.Events(21, 3000, t0, shifted: false));
        var dataset = await ContinuousTestWorld.BuildDatasetAsync(_telemetry, t0, t0.AddMinutes(1));
        var evaluator = _telemetry.Services.GetRequiredService<DriftEvaluator>();
        var request = new GetDecisionStatistics
        {
            Since = t0.AddMinutes(1), BaselineDatasetId = (string)dataset["dataset_id"]!, PsiThreshold = 0.2, MinSamples = 1000,
        };

        // Stable: the same generator, other queries, after the training window.
        await ContinuousTestWorld.IngestAsync(_telemetry, ContinuousTestWorld.Events(22, 3000, t0.AddMinutes(2), shifted: false));
        var stable = await evaluator.EvaluateAsync(request, CancellationToken.None);
        Assert.False(stable.Drifted, $"max PSI {stable.MaxPsi}");
        Assert.Equal((3000L, 3000L, 3000L), (stable.NewDecisions, stable.CurrentSamples, stable.BaselineSamples));
        Assert.True(stable.MaxPsi < 0.05, $"max PSI {stable.MaxPsi}");

        // Shifted: longer queries, callers naming a model.
        await ContinuousTestWorld.IngestAsync(_telemetry, ContinuousTestWorld.Events(23, 6000, t0.AddMinutes(3), shifted: true));
        var shifted = await evaluator.EvaluateAsync(request, CancellationToken.None);
        Assert.True(shifted.Drifted, $"max PSI {shifted.MaxPsi}");
        Assert.Equal(9000, shifted.NewDecisions);
        Assert.True(shifted.Psi[DriftFeatures.QueryLength] >= 0.2, $"query_length PSI {shifted.Psi[DriftFeatures.QueryLength]}");
        Assert.True(shifted.Psi[DriftFeatures.RequestedModel] >= 0.2, $"requested_model PSI {shifted.Psi[DriftFeatures.RequestedModel]}");
        Assert.True(shifted.Psi[DriftFeatures.Outcome] < 0.05, $"outcome PSI {shifted.Psi[DriftFeatures.Outcome]}");

        // Below min_samples nothing fires, however large the PSI.
        Assert.False((await evaluator.EvaluateAsync(request with { MinSamples = 100_000 }, CancellationToken.None)).Drifted);
    }

    /// <summary>
    /// The last run's window end usually falls inside a statistics window: the decisions of that window stored
    /// at or after it are new (counted from the rows), the ones before it are not, and the windows after it
    /// come from the statistics — each decision counted once.
    /// </summary>
    [Fact]
    public async Task New_decisions_count_the_window_holding_since_from_its_rows()
    {
        var window = ContinuousTestWorld.DaysAgo(3);   // midnight: a window starts there (60 s windows)
        await ContinuousTestWorld.IngestAsync(_telemetry, ContinuousTestWorld.Events(31, 500, window, shifted: false));                 // [0 s, 5 s)
        await ContinuousTestWorld.IngestAsync(_telemetry, ContinuousTestWorld.Events(32, 700, window.AddSeconds(30), shifted: false));  // [30 s, 37 s)
        await ContinuousTestWorld.IngestAsync(_telemetry, ContinuousTestWorld.Events(33, 300, window.AddSeconds(90), shifted: false));  // next window
        var evaluator = _telemetry.Services.GetRequiredService<DriftEvaluator>();

        Assert.Equal(1000, (await evaluator.EvaluateAsync(new GetDecisionStatistics { Since = window.AddSeconds(30) }, CancellationToken.None)).NewDecisions);
        // Since inside the second batch: its first 300 (10 ms apart) are before it.
        Assert.Equal(700, (await evaluator.EvaluateAsync(new GetDecisionStatistics { Since = window.AddSeconds(33) }, CancellationToken.None)).NewDecisions);
        Assert.Equal(1500, (await evaluator.EvaluateAsync(new GetDecisionStatistics { Since = window }, CancellationToken.None)).NewDecisions);
        Assert.Equal(300, (await evaluator.EvaluateAsync(new GetDecisionStatistics { Since = window.AddSeconds(60) }, CancellationToken.None)).NewDecisions);
    }
}
