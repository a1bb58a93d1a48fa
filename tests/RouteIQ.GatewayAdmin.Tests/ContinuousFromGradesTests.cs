using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using RouteIQ.GatewayAdmin.Continuous;
using RouteIQ.ServiceDefaults;
using RouteIQ.TelemetryIngest;
using RouteIQ.TelemetryIngest.Inputs;
using RouteIQ.TelemetryIngest.Store;
using RouteIQ.Testing;

namespace RouteIQ.GatewayAdmin.Tests;

/// <summary>
/// Grades posted to <c>POST /v1/feedback</c> and redelivered over the <c>routeiq.router_feedback.v1</c>
/// exchange reach the window statistics once each: the <c>new_feedback</c> trigger counts stored
/// grades, never a duplicate or a rejected one (RabbitMQ, PostgreSQL, two gateway-admin replicas).
/// </summary>
[Trait("Category", "Integration")]
public sealed class NewFeedbackCountsEachStoredGradeOnceTests : IAsyncLifetime
{
    private readonly FakeCluster _cluster = new();
    private readonly FakeTimeProvider _clock = new(ContinuousTestWorld.DaysAgo(4));
    private string _vhost = "";
    private AdminTestHost _a = null!;
    private AdminTestHost _b = null!;
    private WebApplication _telemetry = null!;

    public async Task InitializeAsync()
    {
        var specs = TestInfra.TempDirectory("continuous-feedback");
        await File.WriteAllTextAsync(Path.Combine(specs, "t.yaml"), """
            graders:
              trainer_image: t
              model_name: graders-router
              env: {FAKE: ok}
              continuous: {triggers: {new_feedback: 300}, cooldown_seconds: 0, max_running: 5}
            """);
        _vhost = await TestInfra.CreateVirtualHostAsync("continuous-feedback");
        var db = await TestInfra.CreateDatabaseAsync("continuous_feedback");
        _telemetry = await ContinuousTestWorld.StartTelemetryAsync(_vhost, db);
        _a = await ContinuousTestWorld.StartAdminAsync(_vhost, db, specs, _clock, _cluster);
        _b = await ContinuousTestWorld.StartAdminAsync(_vhost, db, specs, _clock);
    }

    public async Task DisposeAsync()
    {
        await _b.DisposeAsync();
        await _a.DisposeAsync();
        await _telemetry.StopAsync();
        await _telemetry.DisposeAsync();
    }

    private async Task<long?> CounterAsync()
    {
        var (_, listed) = await _a.GetAsync("/admin/continuous");
        return (long?)listed["trainers"]!["graders"]!["counters"]!["new_feedback"];
    }

    /// <summary>Publishes raw grades to the feedback exchange and waits until the input has dropped them as duplicates.</summary>
    private async Task RedeliverOverRabbitMqAsync(IReadOnlyList<string> grades)
    {
        var metrics = _telemetry.Services.GetRequiredService<IngestMetrics>();
        var before = metrics.FeedbackDuplicatesSinceStart;
        await new RawDecisionPublisher(RabbitMqEndpoint.Parse(_vhost, "test"), exchange: "routeiq.router_feedback.v1")
            .PublishAsync(grades.Count, i => Encoding.UTF8.GetBytes(grades[(int)i]));
        await TestInfra.WaitUntilAsync(() => Task.FromResult(metrics.FeedbackDuplicatesSinceStart - before >= grades.Count),
            TimeSpan.FromSeconds(60), $"{grades.Count} redelivered grades dropped as duplicates");
        await _telemetry.Services.GetRequiredService<TelemetryIngest.Drift.DriftStatisticsFlusher>().FlushAsync(CancellationToken.None);
    }

    [Fact]
    public async Task New_feedback_fires_once_at_the_threshold_and_duplicates_redeliveries_and_rejections_do_not_count()
    {
        var t0 = _clock.GetUtcNow();
        Assert.Equal(0, await ContinuousTestWorld.EvaluateConcurrentlyAsync(2, _a, _b));
        var start = t0.AddMinutes(5);
        await ContinuousTestWorld.IngestAsync(_telemetry, ContinuousTestWorld.Events(31, 400, start, shifted: false));
        var ids = new SyntheticTelemetry(31, start, includeQueryText: false);
        string GradeOf(int i, double score) => ContinuousTestWorld.Grade($"00000000-0000-4000-8000-{i:D12}", ids.EventId(i), score, start.AddMinutes(10));

        // 250 grades, then 100 of them again (a judge retrying) plus 2 bad ones, then 100 redelivered over RabbitMQ.
        var first = Enumerable.Range(0, 250).Select(i => GradeOf(i, 0.7)).ToList();
        var reports = await ContinuousTestWorld.PostFeedbackAsync(_telemetry, first);
        Assert.Equal(250, reports.Sum(r => (long)r["feedback_stored"]!));
        var bad = new[] { GradeOf(900, 0.7).Replace("\"score\":0.7", "\"score\":1.5", StringComparison.Ordinal), GradeOf(901, 0.7).Replace("judge\"", "crowd\"", StringComparison.Ordinal) };
        reports = await ContinuousTestWorld.PostFeedbackAsync(_telemetry, first.Take(100).Concat(bad));
        Assert.Equal((0L, 100L, 2L), (reports.Sum(r => (long)r["feedback_stored"]!), reports.Sum(r => (long)r["feedback_duplicates"]!), reports.Sum(r => (long)r["rejected"]!)));
        await RedeliverOverRabbitMqAsync(first.Skip(150).ToList());

        _clock.SetUtcNow(t0.AddMinutes(30));
        Assert.Equal(250, await CounterAsync());
        Assert.Equal(0, await ContinuousTestWorld.EvaluateConcurrentlyAsync(3, _a, _b));

        // 60 new grades (with 20 repeats among them): 310 ≥ 300 → one run, whichever replica wins.
        await ContinuousTestWorld.PostFeedbackAsync(_telemetry, Enumerable.Range(250, 60).Select(i => GradeOf(i, 0.4)).Concat(first.Take(20)));
        Assert.Equal(310, await CounterAsync());
        Assert.Equal(1, await ContinuousTestWorld.EvaluateConcurrentlyAsync(4, _a, _b));
        var run = Assert.Single(await ContinuousTestWorld.RunsAsync(_a, "graders"));
        Assert.Equal((Triggers.NewFeedback, RunStates.Started), (run.Trigger, run.State));
        var job = await _a.WaitForJobAsync(run.JobId!.Value.ToString(), j => (string?)j["state"] == "succeeded", TimeSpan.FromSeconds(60));
        var details = job["request"]!["continuous"]!["details"]!;
        Assert.Equal("new_feedback", (string?)job["request"]!["continuous"]!["trigger"]);
        Assert.Equal((310L, 300L), ((long)details["new_feedback"]!, (long)details["threshold"]!));

        // Counted from the run's window end on: the same grades again fire nothing.
        _clock.SetUtcNow(t0.AddMinutes(40));
        await ContinuousTestWorld.PostFeedbackAsync(_telemetry, Enumerable.Range(0, 310).Select(i => GradeOf(i, 0.4)));
        Assert.Equal(0, await ContinuousTestWorld.EvaluateConcurrentlyAsync(3, _a, _b));
        Assert.Single(await ContinuousTestWorld.RunsAsync(_b, "graders"));
    }
}

/// <summary>
/// The whole loop on one real system (all four services in one process on RabbitMQ and PostgreSQL,
/// process trainers writing metrics.json, busybox serving): production's registry metric is
/// avg_quality 0.8; grades posted to <c>POST /v1/feedback</c> at that level fire nothing, grades
/// well below it fire exactly one <c>quality_drop</c> run whose document carries the numbers; the
/// retrained candidate (avg_quality 0.6) fails the promotion gate: registered, not served.
/// </summary>
[Trait("Category", "Integration")]
public sealed class QualityDropFromGradesRetrainsThroughTheGateTests : IAsyncLifetime
{
    private const string ServeCommand = """["/bin/busybox", "sh", "-c", "d=$(mktemp -d) && echo pong > $d/ping && exec /bin/busybox httpd -f -p 127.0.0.1:$SERVE_PORT -h $d"]""";

    private WebApplication _app = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        var specs = TestInfra.TempDirectory("quality-drop-specs");
        // Each training takes the next avg_quality from the queue file: 0.8 for the first version, 0.6 for the retrain.
        var queue = Path.Combine(TestInfra.TempDirectory("quality-drop-queue"), "qualities");
        await File.WriteAllTextAsync(queue, "0.8\n0.6\n0.6\n");
        var train = """["/bin/sh", "-c", "q=$(head -n 1 $QUEUE) && sed -i 1d $QUEUE && echo model > $ROUTEIQ_OUTPUT_DIR/model.bin && echo \"{\\\"avg_quality\\\": $q}\" > $ROUTEIQ_OUTPUT_DIR/metrics.json && echo trained $q"]""";
        await File.WriteAllTextAsync(Path.Combine(specs, "graded.yaml"), $$"""
            graded:
              trainer_image: process
              serve_image: busybox-httpd
              model_name: graded-router
              env: {QUEUE: "{{queue}}"}
              command: {{train}}
              serve_command: {{ServeCommand}}
              promotion:
                gate: {metric: avg_quality, min_delta: 0.0}
              continuous:
                triggers:
                  quality_drop: {delta: 0.1, min_samples: 200}
                cooldown_seconds: 0
                max_running: 1
                promote: true
            """);
        var url = $"http://127.0.0.1:{TestInfra.FreePort()}";
        _app = Cli.EmbeddedHost.Build(
        [
            "--urls", url,
            "--ConnectionStrings:RabbitMq", await TestInfra.CreateVirtualHostAsync("quality-drop"),
            "--ConnectionStrings:RouteIQ", await TestInfra.CreateDatabaseAsync("quality_drop"),
            "--RouteIQ:DataDir", TestInfra.TempDirectory("quality-drop-data"),
            "--RouteIQ:Specs:Path", specs,
            "--RouteIQ:Workloads:Launcher", "Process",
            "--RouteIQ:Rollout:PublicUrl", $"http://127.0.0.1:{TestInfra.FreePort()}",
            "--RouteIQ:Rollout:DrainGraceSeconds", "0",
            "--RouteIQ:Telemetry:Drift:WindowSeconds", "1",
            "--RouteIQ:Telemetry:Drift:FlushMilliseconds", "100",
            "--RouteIQ:Continuous:EvaluateSeconds", "3600",
            "--Logging:LogLevel:Default", "Warning",
        ]);
        await _app.StartAsync();
        _http = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(120) };
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _app.StopAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
        await _app.DisposeAsync();
    }

    private async Task<JsonObject> GetAsync(string path)
    {
        var response = await _http.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{path}: {body}");
        return JsonNode.Parse(body)!.AsObject();
    }

    private async Task<JsonObject> WaitForJobAsync(string jobId)
    {
        JsonObject last = [];
        await TestInfra.WaitUntilAsync(async () =>
        {
            last = await GetAsync($"/admin/jobs/{jobId}");
            return (string?)last["state"] is "succeeded" or "failed" or "cancelled";
        }, TimeSpan.FromSeconds(120), $"job {jobId} to end");
        return last;
    }

    private async Task<int> EvaluateAsync(int rounds)
    {
        var engine = _app.Services.GetRequiredService<ContinuousEngine>();
        var claimed = await Task.WhenAll(Enumerable.Range(0, rounds).Select(_ => Task.Run(() => engine.EvaluateAllAsync(CancellationToken.None))));
        await engine.DrainAsync();
        return claimed.Sum(c => c.Count);
    }

    /// <summary><paramref name="count"/> decisions from now on, each graded by a judge with <paramref name="score"/>(i).</summary>
    private async Task IngestGradedAsync(int seed, int count, DateTimeOffset notBefore, Func<int, double> score)
    {
        var start = DateTimeOffset.UtcNow > notBefore ? DateTimeOffset.UtcNow : notBefore;
        await ContinuousTestWorld.IngestAsync(_app, ContinuousTestWorld.Events(seed, count, start, shifted: false));
        var ids = new SyntheticTelemetry(seed, start, includeQueryText: false);
        var reports = await ContinuousTestWorld.PostFeedbackAsync(_app,
            Enumerable.Range(0, count).Select(i => ContinuousTestWorld.Grade(Guid.NewGuid().ToString("D"), ids.EventId(i), score(i), start)));
        Assert.Equal(count, reports.Sum(r => (long)r["feedback_stored"]!));
        // Decisions are 10 ms apart: the last may be stamped ahead of the clock; a run claimed now would count it as after its window end.
        var last = ids.TimestampMs(count - 1) + 1000;
        await TestInfra.WaitUntilAsync(() => Task.FromResult(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() > last), TimeSpan.FromSeconds(30), "the clock to pass the last decision's window");
    }

    [Fact]
    public async Task Grades_below_the_registry_metric_fire_one_quality_drop_whose_worse_candidate_is_registered_not_served()
    {
        // Production v1: trained (avg_quality 0.8) on a dataset of ungraded decisions, through the gate (nothing to beat).
        await ContinuousTestWorld.IngestAsync(_app, ContinuousTestWorld.Events(41, 300, DateTimeOffset.UtcNow.AddMinutes(-20), shifted: false));
        var first = await _http.PostAsync("/admin/continuous/graded/trigger", null);
        var manual = JsonNode.Parse(await first.Content.ReadAsStringAsync())!;
        Assert.True(first.IsSuccessStatusCode, manual.ToJsonString());
        var v1Job = await WaitForJobAsync((string)manual["job_id"]!);
        Assert.True((string?)v1Job["state"] == "succeeded", v1Job.ToJsonString());
        Assert.Equal(1, (int)(await GetAsync("/status?name=graded-router"))["model_version"]!);
        // The graded decisions below are stamped after the v1 dataset's end, in later (1 s) windows.
        var after = DateTimeOffset.Parse((string)manual["fired_at"]!, System.Globalization.CultureInfo.InvariantCulture).AddSeconds(2);

        // Grades at the registry metric (mean 0.8 over 300 ≥ min_samples): nothing fires.
        await IngestGradedAsync(42, 300, after, i => i % 2 == 0 ? 0.75 : 0.85);
        Assert.Equal(0, await EvaluateAsync(2));
        var quality = (await GetAsync("/admin/continuous"))["trainers"]!["graded"]!["graded_quality"]!;
        Assert.Equal((0.8, 300L, 0.8), ((double)quality["current"]!, (long)quality["graded_samples"]!, (double)quality["registry"]!));

        // 300 more at 0.3: production's graded quality 0.55 is 0.25 below its metric (delta 0.1) → exactly one run.
        await IngestGradedAsync(43, 300, after, _ => 0.3);
        Assert.Equal(1, await EvaluateAsync(3));
        Assert.Equal(0, await EvaluateAsync(2));
        var continuous = (await GetAsync("/admin/continuous"))["trainers"]!["graded"]!["last"]!;
        Assert.Equal("quality_drop", (string?)continuous["trigger"]);
        var details = continuous["details"]!;
        Assert.Equal("registry:avg_quality", (string?)details["reference"]);
        Assert.Equal((0.8, 0.55, 0.25, 600L, 1), ((double)details["reference_quality"]!, (double)details["current_quality"]!,
            (double)details["drop"]!, (long)details["graded_samples"]!, (int)details["production_version"]!));
        Assert.Equal(600L, details["quality_by_model"]!.AsObject().Sum(m => (long)m.Value!["graded"]!));

        // The retrain (avg_quality 0.6) fails the gate: v2 is registered, v1 still serves, the job says why.
        var job = await WaitForJobAsync((string)continuous["job_id"]!);
        Assert.Equal("quality_drop", (string?)job["request"]!["continuous"]!["trigger"]);
        Assert.True((string?)job["state"] == "failed", job.ToJsonString());
        var error = job["error"]!;
        Assert.Equal("rollout failed after successful training", (string?)error["error"]);
        Assert.Equal(2, (int)error["training"]!["version"]!);
        Assert.Contains("avg_quality: candidate v2 0.6 − production v1 0.8", (string?)error["rollout_error"], StringComparison.Ordinal);
        var status = await GetAsync("/status?name=graded-router");
        Assert.Equal((1, true), ((int)status["model_version"]!, (bool)status["active"]!));
        Assert.Equal("failed", (string?)(await GetAsync("/admin/continuous"))["trainers"]!["graded"]!["last"]!["job_state"]);

        // Evidence is not read twice: after the run, no new grades → no new run.
        Assert.Equal(0, await EvaluateAsync(2));
    }
}
