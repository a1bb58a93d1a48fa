using Microsoft.Extensions.DependencyInjection;
using RouteIQ.Contracts;
using RouteIQ.Rollout.Rollouts;
using RouteIQ.Testing;

namespace RouteIQ.Rollout.Tests;

/// <summary>One rollout host (process launcher, SQLite, file store, RabbitMQ, the stable endpoint as its own process) for the promotion tests, which run one at a time: each puts load on the machine.</summary>
public sealed class PromotionFixture : IAsyncLifetime
{
    public RolloutTestHost Host { get; private set; } = null!;
    public PromotionEvents Events => Host.PromotionEvents;

    public async Task InitializeAsync()
    {
        var settings = await RolloutTestHost.SettingsAsync("rollout-promo");
        settings["RouteIQ:Rollout:JudgeIntervalMilliseconds"] = "100";
        settings["RouteIQ:Rollout:DrainGraceSeconds"] = "0.2";
        Host = await RolloutTestHost.StartAsync(settings);
    }

    public async Task DisposeAsync() => await Host.DisposeAsync();
}

[CollectionDefinition("promotion")]
public sealed class PromotionCollection : ICollectionFixture<PromotionFixture>;

/// <summary>
/// A canary walks its steps only while the candidate is judged healthy, and the stable endpoint's
/// split follows the weights: no client sees a failure, and a bad candidate is rolled back on
/// its own numbers in the step where they become measurable.
/// </summary>
[Collection("promotion")]
[Trait("Category", "Integration")]
public sealed class CanaryStepsJudgeTheCandidateTests(PromotionFixture fixture)
{
    private RolloutTestHost Host => fixture.Host;

    private static Promotion Canary(double[] steps, double stepSeconds, int minRequests, double maxErrorRate = 0.05, double p99Ratio = 4, string sticky = "none", double? maxStep = null) => new()
    {
        Canary = new PromotionCanary
        {
            Steps = steps, StepSeconds = stepSeconds, MinRequests = minRequests, MaxErrorRate = maxErrorRate,
            MaxLatencyP99Ratio = p99Ratio, Sticky = sticky, MaxStepSeconds = maxStep,
        },
    };

    private Task<(int V1, int V2)> ProductionAndCandidateAsync(string model) => PromotionTestKit.ProductionAndCandidateAsync(Host, model);

    [Fact]
    public async Task A_good_candidate_walks_5_25_50_100_under_load_with_no_client_error_and_the_version_header_share_follows_the_weights()
    {
        const string model = "canary-good";
        var (v1, v2) = await ProductionAndCandidateAsync(model);
        await using var load = new LoadClients(Host.PublicUrl, model, clients: 6);
        await PromotionTestKit.WaitRequestsAsync(load, 50);

        double[] steps = [5, 25, 50, 100];
        var job = await PromotionTestKit.PublishRollAsync(Host, model, v2, Canary(steps, stepSeconds: 3, minRequests: 15, maxStep: 90));
        var rolled = RolloutTestHost.Succeeded(await Host.Outcomes.WaitAsync(job, TimeSpan.FromSeconds(180)));
        await PromotionTestKit.WaitRequestsAsync(load, 50);
        await load.DisposeAsync();

        Assert.Equal(v2, rolled.Version);
        Assert.Equal(v1, rolled.PreviousVersion);
        Assert.True(load.Failures.Count == 0, $"{load.Failures.Count} client failures:\n{PromotionTestKit.Describe(load.Failures)}");
        // Every answer says which version answered, and says it truly.
        Assert.All(load.Answers, a => Assert.Equal(a.BodyVersion, a.HeaderVersion));

        // The share of each step's answers carrying the candidate's version follows the step's weight
        // (binomial tolerance of 4 σ plus 3 points; the first half second of a step is the swap).
        var changes = fixture.Events.Steps.Where(s => s.RolloutId == job).OrderBy(s => s.ChangedAt).ToList();
        Assert.Equal(["gating", "canary", "canary", "canary", "canary", "promoted"], changes.Select(c => c.State));
        Assert.Equal(steps, changes.Where(c => c.State == "canary").Select(c => c.Weight));
        for (var i = 1; i <= steps.Length; i++)
        {
            var from = changes[i].ChangedAt.AddSeconds(0.5);
            var to = changes[i + 1].ChangedAt;
            var window = load.Answers.Where(a => a.At >= from && a.At < to).ToList();
            Assert.True(window.Count >= 15, $"step {i - 1}: only {window.Count} answers");
            var share = window.Count(a => a.HeaderVersion == v2) / (double)window.Count;
            var weight = steps[i - 1] / 100;
            var tolerance = 4 * Math.Sqrt(weight * (1 - weight) / window.Count) + 0.03;
            Assert.True(Math.Abs(share - weight) <= tolerance,
                $"step {i - 1} at {steps[i - 1]}%: candidate share {share:P1} of {window.Count} answers (tolerance ±{tolerance:P1})");
        }
        // After the promotion the candidate alone answers, and the rollout reads promoted with its history.
        Assert.Equal(v2, await Host.InvokeAsync(model));
        var record = await PromotionTestKit.RecordAsync(Host, job);
        Assert.Equal(RolloutStates.Promoted, record!.State);
        Assert.Single(ServingProcesses.Ports(model));
    }

    [Fact]
    public async Task A_candidate_failing_30_percent_is_rolled_back_in_its_first_step_with_no_client_error_and_the_reason_published()
    {
        const string model = "canary-failing";
        var (v1, v2) = await ProductionAndCandidateAsync(model);
        await using var load = new LoadClients(Host.PublicUrl, model, clients: 6);
        await PromotionTestKit.WaitRequestsAsync(load, 50);

        var job = await PromotionTestKit.PublishRollAsync(Host, model, v2, Canary([5, 25, 50, 100], stepSeconds: 30, minRequests: 20, maxErrorRate: 0.01),
            serveCommand: FastTestServer.Command(failShare: 0.3));
        var failed = Assert.IsType<RollFailed>(await Host.Outcomes.WaitAsync(job, TimeSpan.FromSeconds(120)));
        await PromotionTestKit.WaitRequestsAsync(load, 30);
        await load.DisposeAsync();

        Assert.StartsWith("rolled back: error_rate", failed.Reason);
        Assert.True(load.Failures.Count == 0, $"{load.Failures.Count} client failures:\n{PromotionTestKit.Describe(load.Failures)}");
        var rolledBack = Assert.Single(fixture.Events.RolledBack, e => e.RolloutId == job);
        Assert.Equal(0, rolledBack.Step);
        Assert.Contains("max_error_rate 0.01", rolledBack.Reason);
        // Production untouched: v1 answers alone, the candidate's server is gone, the history has no v2.
        Assert.Equal(v1, await Host.InvokeAsync(model));
        Assert.Single(ServingProcesses.Ports(model));
        var record = await PromotionTestKit.RecordAsync(Host, job);
        Assert.Equal(RolloutStates.RolledBack, record!.State);
        Assert.Equal(0d, record.Weight);
        var history = await Host.RequestAsync<GetDeploymentHistory, DeploymentHistory>(new GetDeploymentHistory { ModelName = model });
        Assert.DoesNotContain(history.Deployments, d => d.Version == v2);
        // The candidate's failures were retried on the baseline and counted against the candidate.
        Assert.Contains("\"retried_on_baseline\"", record.StatsJson);
    }

    [Fact]
    public async Task A_ten_times_slower_candidate_is_rolled_back_on_the_p99_rule()
    {
        const string model = "canary-slow";
        var (v1, v2) = await ProductionAndCandidateAsync(model);
        await using var load = new LoadClients(Host.PublicUrl, model, clients: 6);
        await PromotionTestKit.WaitRequestsAsync(load, 50);

        // Baseline answers in a few ms; the candidate sleeps 0.3 s (p99 floor 10 ms → ratio ≥ 30).
        var job = await PromotionTestKit.PublishRollAsync(Host, model, v2, Canary([25, 100], stepSeconds: 30, minRequests: 10, maxErrorRate: 0.5, p99Ratio: 3),
            serveCommand: FastTestServer.Command(delaySeconds: 0.3));
        var failed = Assert.IsType<RollFailed>(await Host.Outcomes.WaitAsync(job, TimeSpan.FromSeconds(120)));
        await load.DisposeAsync();

        Assert.StartsWith("rolled back: latency_p99 ratio", failed.Reason);
        Assert.Empty(load.Failures);
        Assert.Equal(v1, await Host.InvokeAsync(model));
        Assert.Equal(RolloutStates.RolledBack, (await PromotionTestKit.RecordAsync(Host, job))!.State);
    }

    [Fact]
    public async Task Sticky_keys_see_one_version_within_a_step_and_keep_the_candidate_when_its_weight_grows()
    {
        const string model = "canary-sticky";
        var (_, v2) = await ProductionAndCandidateAsync(model);
        var keys = Enumerable.Range(0, 40).Select(i => $"user-{i}").ToList();
        await using var load = new LoadClients(Host.PublicUrl, model, clients: 4, keys);
        await PromotionTestKit.WaitRequestsAsync(load, 40);

        var job = await PromotionTestKit.PublishRollAsync(Host, model, v2, Canary([20, 60, 100], stepSeconds: 3, minRequests: 10, sticky: "header:X-RouteIQ-User"));
        RolloutTestHost.Succeeded(await Host.Outcomes.WaitAsync(job, TimeSpan.FromSeconds(120)));
        await load.DisposeAsync();
        Assert.Empty(load.Failures);

        var changes = fixture.Events.Steps.Where(s => s.RolloutId == job && s.State is "canary" or "promoted").OrderBy(s => s.ChangedAt).ToList();
        var candidateKeys = new List<HashSet<string>>();
        for (var i = 0; i + 1 < changes.Count; i++)
        {
            // A step's split is in effect before its ChangedAt (the edge acknowledged it), so a request sent after it
            // meets this step's split. The next split takes effect a little before its ChangedAt (the acknowledgement's
            // round trip), so answers of the step's last second are left out: on a loaded machine a request sent
            // just before the old split and answered late, or one meeting the next split, is no sticky-key breach.
            var window = load.Answers.Where(a => a.SentAt >= changes[i].ChangedAt && a.At < changes[i + 1].ChangedAt.AddSeconds(-1)).ToList();
            Assert.True(window.Count > keys.Count, $"step {i}: only {window.Count} answers");
            foreach (var group in window.GroupBy(a => a.Key))
            {
                Assert.True(group.Select(a => a.HeaderVersion).Distinct().Count() == 1, $"step {i}: key {group.Key} saw versions {string.Join(",", group.Select(a => a.HeaderVersion).Distinct())}");
            }
            candidateKeys.Add(window.Where(a => a.HeaderVersion == v2).Select(a => a.Key!).ToHashSet());
        }
        // Consistent hashing: raising the weight only moves keys to the candidate.
        for (var i = 1; i < candidateKeys.Count; i++)
        {
            Assert.Superset(candidateKeys[i - 1], candidateKeys[i]);
        }
        Assert.True(candidateKeys[0].Count > 0 && candidateKeys[0].Count < keys.Count, $"step 0 put {candidateKeys[0].Count} of {keys.Count} keys on the candidate");
    }

    [Fact]
    public async Task A_paused_canary_stays_paused_in_its_record_while_its_step_saves_stats_and_resume_clears_it()
    {
        const string model = "canary-paused";
        var (_, v2) = await ProductionAndCandidateAsync(model);
        await using var load = new LoadClients(Host.PublicUrl, model, clients: 2);
        var job = await PromotionTestKit.PublishRollAsync(Host, model, v2, Canary([50, 100], stepSeconds: 600, minRequests: 1));
        await PromotionTestKit.WaitStateAsync(Host, job, r => r.State == RolloutStates.Canary, "the canary to start");

        var pause = await Host.RequestAsync<ControlRollout, RolloutDocuments>(new ControlRollout { RolloutId = job, Action = "pause" });
        Assert.Equal(200, pause.StatusCode);
        var pausedAt = DateTimeOffset.UtcNow;
        // The running step saves its stats about once a second: two saves later the record still says paused.
        await PromotionTestKit.WaitStateAsync(Host, job, r => r.UpdatedAt > pausedAt.AddSeconds(2.5), "two stats saves after the pause");
        Assert.True((await PromotionTestKit.RecordAsync(Host, job))!.Paused);

        var resume = await Host.RequestAsync<ControlRollout, RolloutDocuments>(new ControlRollout { RolloutId = job, Action = "resume" });
        Assert.Equal(200, resume.StatusCode);
        var resumedAt = DateTimeOffset.UtcNow;
        await PromotionTestKit.WaitStateAsync(Host, job, r => r.UpdatedAt > resumedAt.AddSeconds(1.5), "a stats save after the resume");
        Assert.False((await PromotionTestKit.RecordAsync(Host, job))!.Paused);

        await Host.RequestAsync<ControlRollout, RolloutDocuments>(new ControlRollout { RolloutId = job, Action = "abort" });
        Assert.IsType<RollFailed>(await Host.Outcomes.WaitAsync(job, TimeSpan.FromSeconds(60)));
        await load.DisposeAsync();
        Assert.Empty(load.Failures);
    }

    [Fact]
    public async Task A_second_rollout_of_a_model_in_flight_is_refused_with_409_and_abort_rolls_the_first_back()
    {
        const string model = "canary-one-at-a-time";
        var (v1, v2) = await ProductionAndCandidateAsync(model);
        await using var load = new LoadClients(Host.PublicUrl, model, clients: 2);
        var job = await PromotionTestKit.PublishRollAsync(Host, model, v2, Canary([50, 100], stepSeconds: 600, minRequests: 1));
        await PromotionTestKit.WaitStateAsync(Host, job, r => r.State == RolloutStates.Canary, "the canary to start");

        var second = Assert.IsType<RollFailed>(await Host.Outcomes.WaitAsync(await PromotionTestKit.PublishRollAsync(Host, model, v1, null), TimeSpan.FromSeconds(60)));
        Assert.Equal(409, second.StatusCode);
        Assert.Contains(job.ToString(), second.Reason);

        var control = await Host.RequestAsync<ControlRollout, RolloutDocuments>(new ControlRollout { RolloutId = job, Action = "abort" });
        Assert.Equal(200, control.StatusCode);
        var aborted = Assert.IsType<RollFailed>(await Host.Outcomes.WaitAsync(job, TimeSpan.FromSeconds(60)));
        Assert.Contains("aborted by operator", aborted.Reason);
        await load.DisposeAsync();
        Assert.Empty(load.Failures);
        Assert.Equal(v1, await Host.InvokeAsync(model));
        var document = await Host.RequestAsync<GetRollout, RolloutDocuments>(new GetRollout { RolloutId = job });
        Assert.Contains("\"state\":\"aborted\"", Assert.Single(document.Rollouts));
    }
}

/// <summary>The offline gate compares the registry's metrics and stops a worse candidate before it gets any traffic.</summary>
[Collection("promotion")]
[Trait("Category", "Integration")]
public sealed class PromotionGateStopsWorseCandidatesTests(PromotionFixture fixture)
{
    private RolloutTestHost Host => fixture.Host;

    private static readonly Promotion GateAndCanary = new()
    {
        Gate = new PromotionGate { Metric = "avg_quality", MinDelta = 0, MaxPriceRatio = 1.05 },
        Canary = new PromotionCanary { Steps = [50, 100], StepSeconds = 1, MinRequests = 1 },
    };

    [Fact]
    public async Task A_failed_gate_names_metric_and_both_values_keeps_the_version_registered_and_sends_no_traffic()
    {
        const string model = "gate-worse";
        // The first version has nothing to beat: it passes the gate.
        var v1 = await PromotionTestKit.RegisterAsync(Host, model, new Dictionary<string, double> { ["avg_quality"] = 0.70, ["avg_price"] = 0.002 });
        RolloutTestHost.Succeeded(await Host.Outcomes.WaitAsync(await PromotionTestKit.PublishRollAsync(Host, model, v1, GateAndCanary), TimeSpan.FromSeconds(60)));
        var v2 = await PromotionTestKit.RegisterAsync(Host, model, new Dictionary<string, double> { ["avg_quality"] = 0.61, ["avg_price"] = 0.003 });

        await using var load = new LoadClients(Host.PublicUrl, model, clients: 2);
        await PromotionTestKit.WaitRequestsAsync(load, 20);
        var job = await PromotionTestKit.PublishRollAsync(Host, model, v2, GateAndCanary);
        var failed = Assert.IsType<RollFailed>(await Host.Outcomes.WaitAsync(job, TimeSpan.FromSeconds(60)));
        await PromotionTestKit.WaitRequestsAsync(load, 20);
        await load.DisposeAsync();

        Assert.Equal(422, failed.StatusCode);
        Assert.Contains("avg_quality: candidate v2 0.61 − production v1 0.7", failed.Reason);
        Assert.Contains("avg_price: candidate v2 0.003 ÷ production v1 0.002 = 1.5 > max_price_ratio 1.05", failed.Reason);
        // No traffic: every answer came from v1, and no server of v2 was ever started.
        Assert.All(load.Answers, a => Assert.Equal(v1, a.HeaderVersion));
        Assert.Single(ServingProcesses.Ports(model));
        var record = await PromotionTestKit.RecordAsync(Host, job);
        Assert.Equal(RolloutStates.Failed, record!.State);
        Assert.Null(record.StatsJson);
        // The version stays registered.
        var resolved = await Host.RequestAsync<ResolveModelVersion, ModelVersionResolved>(new ResolveModelVersion { ModelName = model, Ref = v2.ToString() });
        Assert.Equal(v2, resolved.Version);
    }
}
