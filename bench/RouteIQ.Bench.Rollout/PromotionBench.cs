using System.Diagnostics;
using System.Globalization;
using System.Text;
using MassTransit;
using RouteIQ.Artifacts;
using RouteIQ.Contracts;
using RouteIQ.Rollout.Edge;
using RouteIQ.Rollout.Registry;
using RouteIQ.Rollout.Rollouts;
using RouteIQ.Rollout.Serving;

namespace RouteIQ.Bench.Rollout;

/// <summary>
/// Issue 18 (safe promotion), in the same run as the plain endpoint: the p50 a weighted split
/// (50 %, per request) adds over a plain route, alternating between the two every slice from one
/// client process; and, with load running through the endpoint, the time from a failing canary's
/// breach becoming measurable (min_requests reached) to its rollback, with the failed client requests.
/// </summary>
public static class PromotionBench
{
    private const string SplitModel = "bench-split";

    public static async Task<int> RunAsync(IServiceProvider services, IReadOnlyList<string> serveCommand, IReadOnlyList<string> selfCommand,
        string publicUrl, string plainModel, int rate, int seconds, int rounds, TimeSpan slice, LoadGenerator load)
    {
        var store = services.GetRequiredService<IArtifactStore>();
        var registry = services.GetRequiredService<ModelRegistry>();
        var coordinator = services.GetRequiredService<RolloutCoordinator>();
        var routes = services.GetRequiredService<StableRouteTable>();
        var bus = services.GetRequiredService<IBus>();
        var failing = serveCommand.Concat(["--fail", "0.3"]).ToList();
        await RegisterAsync(store, registry, 1, serveCommand);
        await RegisterAsync(store, registry, 2, failing);
        await coordinator.RollAsync(new RollRequested { JobId = Guid.NewGuid(), ModelName = SplitModel, Ref = "1", RequestedAt = DateTimeOffset.UtcNow }, bus, CancellationToken.None);
        var baseline = routes.Find(SplitModel) ?? throw new InvalidOperationException("bench-split v1 did not roll out");
        var other = routes.Find(plainModel)!;

        // A 50 % per-request split between two healthy servers (the plain model's server as candidate).
        await routes.SetAsync(new ServerRoute(SplitModel, baseline.Version, baseline.ServerUrl)
        {
            Split = new TrafficSplit("bench", other.Version, other.ServerUrl, 50, null, shadow: false, candidateTimeoutMs: 10_000),
        }, makeDefault: false, CancellationToken.None);
        var plainUrl = $"{publicUrl}/{plainModel}/invocations";
        var splitUrl = $"{publicUrl}/{SplitModel}/invocations";
        var added = new List<double>();
        var errors = 0;
        for (var round = 1; round <= rounds; round++)
        {
            var results = await LoadGenerator.RunInChildAsync(selfCommand, [("plain", plainUrl), ("split", splitUrl)], rate,
                TimeSpan.FromSeconds(seconds), TimeSpan.FromSeconds(2), slice);
            var (p, s) = (results[0], results[1]);
            errors += p.Errors + s.Errors;
            added.Add(s.Percentile(50) - p.Percentile(50));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"split round {round}: plain p50 {p.Percentile(50):0.000} ms p99 {p.Percentile(99):0.000} ms ({p.AchievedRate:0}/s, {p.Errors} errors) | "
                + $"50 % split p50 {s.Percentile(50):0.000} ms p99 {s.Percentile(99):0.000} ms ({s.AchievedRate:0}/s, {s.Errors} errors) | split added p50 {added[^1]:0.000} ms"));
        }
        await routes.SetAsync(new ServerRoute(SplitModel, baseline.Version, baseline.ServerUrl), makeDefault: false, CancellationToken.None);

        // A candidate failing 30 % of its requests, canary 5 % then 100 %, min_requests 50, under load.
        const int minRequests = 50;
        const double weight = 5;
        var rolling = load.RunAsync("canary", splitUrl, rate, TimeSpan.FromSeconds(20));
        await Task.Delay(1000);
        var job = Guid.NewGuid();
        var roll = coordinator.RollAsync(new RollRequested
        {
            JobId = job, ModelName = SplitModel, Ref = "2", RequestedAt = DateTimeOffset.UtcNow,
            Promotion = new Promotion { Canary = new PromotionCanary { Steps = [weight, 100], StepSeconds = 30, MinRequests = minRequests, MaxErrorRate = 0.01 } },
        }, bus, CancellationToken.None);
        long splitAt = 0, measurableAt = 0, rolledBackAt = 0;
        while (!roll.IsCompleted || rolledBackAt == 0)
        {
            var route = routes.Find(SplitModel);
            var now = Stopwatch.GetTimestamp();
            if (route?.Split is not null && splitAt == 0)
            {
                splitAt = now;
            }
            if (measurableAt == 0 && routes.SplitStats(SplitModel) is { } stats && stats.Candidate.Requests >= minRequests)
            {
                measurableAt = now;
            }
            if (splitAt != 0 && route?.Split is null)
            {
                rolledBackAt = now;
                break;
            }
            if (roll.IsCompleted && splitAt == 0)
            {
                break;
            }
            await Task.Delay(5);
        }
        await roll;
        var during = await rolling;
        errors += during.Errors;
        // The edge reports its numbers every 200 ms, so "measurable" as seen here may lag the true moment;
        // the expected moment from the offered rate is printed too.
        var expected = minRequests / (rate * weight / 100);
        var sinceSplit = rolledBackAt == 0 ? double.NaN : Stopwatch.GetElapsedTime(splitAt, rolledBackAt).TotalSeconds;
        var sinceReported = measurableAt == 0 || rolledBackAt == 0 ? double.NaN : Stopwatch.GetElapsedTime(measurableAt, rolledBackAt).TotalSeconds;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"SUMMARY-18 split added p50 median {Median(added):0.000} ms | failing canary: rolled back {sinceSplit:0.00} s after its step began "
            + $"(min_requests {minRequests} expected after {expected:0.00} s at {rate}/s × {weight}% → {sinceSplit - expected:0.00} s after measurable; "
            + $"{sinceReported:0.00} s after the edge's report showed it) | {during.LatenciesMs.Length} requests during the canary, {during.Errors} failed | total errors {errors}"));
        return errors;
    }

    private static async Task RegisterAsync(IArtifactStore store, ModelRegistry registry, int n, IReadOnlyList<string> serveCommand)
    {
        var job = Guid.NewGuid();
        await using (var content = new MemoryStream(Encoding.UTF8.GetBytes($"{{\"weights\":[{n}]}}")))
        {
            await store.PutAsync(ArtifactKeys.RunOutput(job) + "model.json", content);
        }
        await registry.RegisterAsync(new TrainCompleted
        {
            JobId = job, Trainer = "bench", Node = "bench", WorkloadName = "bench", ModelName = SplitModel,
            OutputUri = store.GetUri(ArtifactKeys.RunOutput(job)), ServeImage = "bench-serve", ServeCommand = serveCommand,
            CompletedAt = DateTimeOffset.UtcNow,
        }, CancellationToken.None);
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count == 0 ? double.NaN : sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }
}
