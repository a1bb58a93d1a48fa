using System.Text.Json;
using RouteIQ.GatewayAdmin.Api;
using RouteIQ.Rollout.Edge;

namespace RouteIQ.Rollout.Tests;

/// <summary>The <c>promotion</c> block is read strictly (the field named on every problem), and the split's hashing is stable and monotone.</summary>
public sealed class PromotionBlockRejectsBadInputTests
{
    private static (RouteIQ.Contracts.Promotion?, (string Field, string Problem)?) Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        return RolloutsPromotion.Parse(document.RootElement);
    }

    [Theory]
    [InlineData("""{"canary":{"steps":[5,25,50,100],"step_seconds":60,"min_requests":200,"max_error_rate":0.01,"max_latency_p99_ratio":2.0,"sticky":"header:X-RouteIQ-User"}}""", null)]
    [InlineData("""{"canary":{"steps":[50,25]}}""", "promotion.canary.steps")]
    [InlineData("""{"canary":{"steps":[0,100]}}""", "promotion.canary.steps")]
    [InlineData("""{"canary":{"steps":"5,25"}}""", "promotion.canary.steps")]
    [InlineData("""{"canary":{"step":60}}""", "promotion.canary.step")]
    [InlineData("""{"canary":{"max_error_rate":2}}""", "promotion.canary.max_error_rate")]
    [InlineData("""{"canary":{"sticky":"cookie:x"}}""", "promotion.canary.sticky")]
    [InlineData("""{"canary":{"min_requests":"many"}}""", "promotion.canary.min_requests")]
    [InlineData("""{"gate":{"metric":"avg_quality","max_price_ratio":-1}}""", "promotion.gate.max_price_ratio")]
    [InlineData("""{"shadow":{"seconds":0}}""", "promotion.shadow.seconds")]
    [InlineData("""{"canaries":{}}""", "promotion.canaries")]
    [InlineData("""[1]""", "promotion")]
    public void Each_problem_names_its_field(string json, string? field)
    {
        var (promotion, problem) = Parse(json);
        if (field is null)
        {
            Assert.Null(problem);
            Assert.Equal([5d, 25, 50, 100], promotion!.Canary!.Steps);
            Assert.Equal("header:X-RouteIQ-User", promotion.Canary.Sticky);
        }
        else
        {
            Assert.Null(promotion);
            Assert.Equal(field, problem!.Value.Field);
        }
    }

    [Fact]
    public void Raising_the_weight_only_moves_keys_to_the_candidate_and_a_key_always_lands_the_same_way()
    {
        var random = new Random(18);
        var keys = Enumerable.Range(0, 2000).Select(_ => $"user-{random.NextInt64()}").ToList();
        HashSet<string>? previous = null;
        foreach (var weight in new[] { 5.0, 25, 50, 100 })
        {
            var split = new TrafficSplit("s", 2, "http://127.0.0.1:1", weight, "X-RouteIQ-User", shadow: false, candidateTimeoutMs: 1000);
            var again = new TrafficSplit("t", 2, "http://127.0.0.1:1", weight, "X-RouteIQ-User", shadow: false, candidateTimeoutMs: 1000);
            var candidate = keys.Where(k => split.ChooseCandidate(k)).ToHashSet();
            Assert.Equal(candidate, keys.Where(k => again.ChooseCandidate(k)).ToHashSet());
            Assert.InRange(candidate.Count / (double)keys.Count, weight / 100 - 0.04, weight / 100 + 0.04);
            if (previous is not null)
            {
                Assert.Superset(previous, candidate);
            }
            previous = candidate;
        }
    }

    [Fact]
    public void Latency_percentiles_come_from_the_histogram_within_its_resolution()
    {
        var stats = new VersionStats();
        // 98 requests of 1 ms and two of 200 ms: p50 ≈ 1 ms, p99 ≈ 200 ms (durations given, not timed: no clock in the test).
        for (var i = 0; i < 98; i++)
        {
            stats.Record(TimeSpan.FromMilliseconds(1), failed: false);
        }
        stats.Record(TimeSpan.FromMilliseconds(200), failed: true);
        stats.Record(TimeSpan.FromMilliseconds(200), failed: true);
        var snapshot = stats.Snapshot(3);
        Assert.Equal(100, snapshot.Requests);
        Assert.Equal(0.02, snapshot.ErrorRate, 6);
        Assert.InRange(snapshot.LatencyP50Ms, 0.9, 1.5);
        Assert.InRange(snapshot.LatencyP99Ms, 190, 240);
    }
}
