using System.Globalization;
using System.Text.Json.Nodes;
using RouteIQ.Contracts;
using RouteIQ.Rollout.Rollouts;
using RouteIQ.Testing;

namespace RouteIQ.Rollout.Tests;

/// <summary>
/// The shadow phase: the candidate gets copies of production's requests off the response path
/// and answers nobody; the rollout records its numbers next to production's (requests, errors,
/// latency, agreement of the two routers' choices, the candidate's average price), and a slow or
/// failing candidate neither slows production nor fails a client (its copies are dropped when
/// the queue is full, and counted).
/// </summary>
[Collection("promotion")]
[Trait("Category", "Integration")]
public sealed class ShadowTrafficTests(PromotionFixture fixture)
{
    private RolloutTestHost Host => fixture.Host;

    private Task<(int V1, int V2)> ProductionAndCandidateAsync(string model) => PromotionTestKit.ProductionAndCandidateAsync(Host, model);

    private async Task<JsonObject> DocumentAsync(Guid job)
    {
        var answer = await Host.RequestAsync<GetRollout, RolloutDocuments>(new GetRollout { RolloutId = job });
        Assert.Equal(200, answer.StatusCode);
        return JsonNode.Parse(Assert.Single(answer.Rollouts))!.AsObject();
    }

    [Fact]
    public async Task Shadow_answers_every_client_from_production_and_records_requests_errors_agreement_and_the_candidates_price_before_the_canary()
    {
        const string model = "shadow-good";
        var (v1, v2) = await ProductionAndCandidateAsync(model);
        await using var load = new LoadClients(Host.PublicUrl, model, clients: 6);
        await PromotionTestKit.WaitRequestsAsync(load, 50);

        // The candidate picks model-b (price 0.003) for about a quarter of the queries; production always picks model-a (0.001).
        var promotion = new Promotion
        {
            Shadow = new PromotionShadow { Seconds = 3, MinRequests = 100 },
            Canary = new PromotionCanary { Steps = [50, 100], StepSeconds = 1, MinRequests = 10, MaxErrorRate = 0.05, MaxLatencyP99Ratio = 4, MaxStepSeconds = 90 },
        };
        var job = await PromotionTestKit.PublishRollAsync(Host, model, v2, promotion, serveCommand: FastTestServer.Command(otherPickShare: 0.25));
        var rolled = RolloutTestHost.Succeeded(await Host.Outcomes.WaitAsync(job, TimeSpan.FromSeconds(180)));
        await load.DisposeAsync();

        Assert.Equal(v2, rolled.Version);
        Assert.True(load.Failures.Count == 0, $"{load.Failures.Count} client failures:\n{PromotionTestKit.Describe(load.Failures)}");
        var changes = fixture.Events.Steps.Where(s => s.RolloutId == job).OrderBy(s => s.ChangedAt).ToList();
        Assert.Equal(["gating", "shadow", "canary", "canary", "promoted"], changes.Select(c => c.State));
        Assert.Equal(0d, changes[1].Weight);

        var document = await DocumentAsync(job);
        Assert.Equal("shadow+canary", document["strategy"]!.GetValue<string>());
        var history = document["history"]!.AsArray().Select(h => h!.AsObject()).ToList();
        // The shadow split is announced once the endpoint has it; the first canary step is recorded before the endpoint gets it.
        var shadowFrom = changes[1].ChangedAt;
        var canaryEntry = history.First(h => h["state"]!.GetValue<string>() == RolloutStates.Canary);
        var shadowTo = canaryEntry["at"]!.GetValue<DateTimeOffset>();
        var during = load.Answers.Where(a => a.SentAt >= shadowFrom && a.At < shadowTo).ToList();
        Assert.True(during.Count >= 100, $"only {during.Count} answers during the shadow phase");
        // Production alone answered during the shadow phase, and said so.
        Assert.All(during, a => Assert.True(a.HeaderVersion == v1 && a.BodyVersion == v1,
            $"an answer during shadow came from header v{a.HeaderVersion} / body v{a.BodyVersion}, not v{v1}"));

        // The first canary step's entry carries the numbers of the window that just closed: the shadow's.
        var stats = canaryEntry["stats"]!.AsObject();
        Assert.Equal($"{job:N}-shadow", stats["window"]!.GetValue<string>());
        var baseline = stats["baseline"]!.AsObject();
        var candidate = stats["candidate"]!.AsObject();
        Assert.Equal(v1, baseline["version"]!.GetValue<int>());
        Assert.Equal(v2, candidate["version"]!.GetValue<int>());
        var copies = candidate["requests"]!.GetValue<long>();
        Assert.True(copies >= 100, $"the candidate saw {copies} copies < min_requests 100");
        Assert.True(copies <= baseline["requests"]!.GetValue<long>(), "the candidate saw more copies than production answered");
        Assert.Equal(0, candidate["errors"]!.GetValue<long>());
        Assert.Equal(0d, candidate["error_rate"]!.GetValue<double>());
        Assert.True(candidate["latency_p50_ms"]!.GetValue<double>() > 0);
        Assert.True(candidate["latency_p99_ms"]!.GetValue<double>() >= candidate["latency_p50_ms"]!.GetValue<double>());
        // Agreement and price follow the candidate's picks on the queries production answered during the shadow.
        var otherShare = FastTestServer.OtherPickShare(during.Select(a => a.Query!), 0.25);
        Assert.InRange(otherShare, 0.1, 0.4);
        var agreement = candidate["agreement"]!.GetValue<double>();
        Assert.True(Math.Abs(agreement - (1 - otherShare)) <= 0.08, $"agreement {agreement:0.###}, expected {1 - otherShare:0.###} ± 0.08");
        var price = candidate["avg_price"]!.GetValue<double>();
        var expectedPrice = 0.001 + 0.002 * otherShare;
        Assert.True(Math.Abs(price - expectedPrice) <= 0.00016, $"avg_price {price.ToString(CultureInfo.InvariantCulture)}, expected {expectedPrice:0.#####} ± 0.00016");
        Assert.Equal(0, candidate["shadow_dropped"]!.GetValue<long>());
    }

    [Fact]
    public async Task A_slow_failing_shadow_candidate_neither_slows_production_nor_fails_a_client_and_its_copies_are_dropped_and_counted_when_the_queue_is_full()
    {
        const string model = "shadow-slow";
        var (v1, v2) = await ProductionAndCandidateAsync(model);
        await using var load = new LoadClients(Host.PublicUrl, model, clients: 6);
        await PromotionTestKit.WaitRequestsAsync(load, 50);
        var beforeFrom = DateTimeOffset.UtcNow;
        await PromotionTestKit.WaitRequestsAsync(load, 400);
        var beforeTo = DateTimeOffset.UtcNow;

        // The candidate sleeps 0.2 s per request (production answers in a few ms) and fails a fifth of them.
        // No canary block: the shadow is not judged, it runs until the operator aborts it.
        var promotion = new Promotion { Shadow = new PromotionShadow { Seconds = 600, MinRequests = 0 } };
        var job = await PromotionTestKit.PublishRollAsync(Host, model, v2, promotion, serveCommand: FastTestServer.Command(failShare: 0.2, delaySeconds: 0.2));
        await PromotionTestKit.WaitStateAsync(Host, job, r => r.State == RolloutStates.Shadow, "the shadow phase", 90);
        await TestInfra.WaitUntilAsync(() => Task.FromResult(fixture.Events.Steps.Any(s => s.RolloutId == job && s.State == RolloutStates.Shadow)),
            TimeSpan.FromSeconds(30), "the shadow split in effect");
        var shadowFrom = fixture.Events.Steps.First(s => s.RolloutId == job && s.State == RolloutStates.Shadow).ChangedAt;
        // The queue of copies fills (a few a second leave it) and copies are dropped.
        await PromotionTestKit.WaitStateAsync(Host, job, r => Dropped(r.StatsJson) > 0, "shadow copies dropped and counted", 90);
        await PromotionTestKit.WaitRequestsAsync(load, 400);
        var shadowTo = DateTimeOffset.UtcNow;

        var control = await Host.RequestAsync<ControlRollout, RolloutDocuments>(new ControlRollout { RolloutId = job, Action = "abort" });
        Assert.Equal(200, control.StatusCode);
        var aborted = Assert.IsType<RollFailed>(await Host.Outcomes.WaitAsync(job, TimeSpan.FromSeconds(60)));
        Assert.Contains("aborted by operator", aborted.Reason);
        await load.DisposeAsync();

        Assert.True(load.Failures.Count == 0, $"{load.Failures.Count} client failures:\n{PromotionTestKit.Describe(load.Failures)}");
        var before = load.Answers.Where(a => a.SentAt >= beforeFrom && a.At < beforeTo).ToList();
        var during = load.Answers.Where(a => a.SentAt >= shadowFrom && a.At < shadowTo).ToList();
        Assert.True(before.Count >= 300 && during.Count >= 300, $"{before.Count} answers before the shadow, {during.Count} during it");
        Assert.All(during, a => Assert.Equal(v1, a.HeaderVersion));
        // Production's p50 during the shadow stays near its p50 before it (a candidate on the response path would add ≥ 200 ms).
        var p50Before = Median(before.Select(a => a.LatencyMs));
        var p50During = Median(during.Select(a => a.LatencyMs));
        Assert.True(p50During <= 3 * p50Before + 5,
            $"client p50 {p50During:0.##} ms during the shadow vs {p50Before:0.##} ms before it");

        var stats = JsonNode.Parse((await PromotionTestKit.RecordAsync(Host, job))!.StatsJson!)!["candidate"]!.AsObject();
        Assert.True(stats["shadow_dropped"]!.GetValue<long>() > 0);
        Assert.True(stats["requests"]!.GetValue<long>() > 0, "no copy reached the candidate");
        Assert.True(stats["latency_p50_ms"]!.GetValue<double>() >= 200, $"candidate p50 {stats["latency_p50_ms"]} ms: the candidate was not slow");
        // The candidate's failures are counted against it (a fifth of the copies it answered).
        Assert.True(stats["errors"]!.GetValue<long>() > 0, $"no failed copy among {stats["requests"]}");
        Assert.Equal(v1, await Host.InvokeAsync(model));
        Assert.Single(ServingProcesses.Ports(model));
    }

    private static long Dropped(string? statsJson)
        => statsJson is not null && JsonNode.Parse(statsJson)?["candidate"]?["shadow_dropped"] is { } d ? d.GetValue<long>() : 0;

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }
}
