using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Time.Testing;
using RouteIQ.GatewayAdmin.Continuous;
using RouteIQ.GatewayAdmin.Specs;
using RouteIQ.Testing;

namespace RouteIQ.GatewayAdmin.Tests;

/// <summary>Every field of a <c>continuous</c> block is checked, and an error names the field and its line.</summary>
public sealed class ContinuousSpecRejectsBadFieldsTests
{
    private static TrainerSpecParser.Result Parse(string continuous)
        => TrainerSpecParser.Parse("c.yaml", $"knn:\n  trainer_image: t\n  continuous:\n{continuous}", _ => null);

    [Fact]
    public void Parses_the_documented_block()
    {
        var result = Parse("""
                dataset: {window: "30d", test_split: 0.2, labels: {quality_weight: 0.8}}
                triggers:
                  schedule: "0 3 * * *"
                  new_decisions: 50000
                  new_feedback: 10000
                  drift: {psi: 0.2, min_samples: 5000}
                  quality_drop: {delta: 0.05, min_samples: 2000}
                cooldown_seconds: 3600
                max_running: 1
                promote: true
            """);

        Assert.Empty(result.Errors);
        var c = Assert.Single(result.Trainers).Continuous!;
        Assert.Equal(TimeSpan.FromDays(30), c.DatasetWindow);
        Assert.Equal("0 3 * * *", c.Schedule);
        Assert.Equal(new DateTime(2026, 1, 2, 3, 0, 0, DateTimeKind.Utc), c.Cron!.GetNextOccurrence(new DateTime(2026, 1, 1, 4, 0, 0, DateTimeKind.Utc)));
        Assert.Equal(50000, c.NewDecisions);
        Assert.Equal(10000, c.NewFeedback);
        Assert.Equal(new DriftTrigger(0.2, 5000), c.Drift);
        Assert.Equal(new QualityDropTrigger(0.05, 2000), c.QualityDrop);
        Assert.Equal((3600, 1, true), (c.CooldownSeconds, c.MaxRunning, c.Promote));
        Assert.Equal("""{"test_split":0.2,"labels":{"quality_weight":0.8}}""", c.DatasetOptionsJson);
    }

    [Theory]
    [InlineData("    triggers: {schedule: \"61 * * * *\"}", "triggers.schedule")]
    [InlineData("    triggers: {new_decisions: -5}", "triggers.new_decisions")]
    [InlineData("    triggers: {new_feedback: many}", "triggers.new_feedback")]
    [InlineData("    triggers: {drift: {psi: -0.1}}", "triggers.drift.psi")]
    [InlineData("    triggers: {drift: {min_samples: 10}}", "triggers.drift.psi")]
    [InlineData("    triggers: {drift: {psi: 0.2, min_samples: 0}}", "triggers.drift.min_samples")]
    [InlineData("    triggers: {quality_drop: {delta: x}}", "triggers.quality_drop.delta")]
    [InlineData("    triggers: {sometimes: 1}", "triggers.sometimes")]
    [InlineData("    dataset: {window: 30 days}", "dataset.window")]
    [InlineData("    dataset: {test_split: 1.5}", "dataset.test_split")]
    [InlineData("    dataset: {since: 2026-01-01}", "dataset.since")]
    [InlineData("    dataset: {labels: 3}", "dataset.labels")]
    [InlineData("    dataset: {colour: red}", "dataset.colour")]
    [InlineData("    cooldown_seconds: -1", "cooldown_seconds")]
    [InlineData("    max_running: 0", "max_running")]
    [InlineData("    promote: maybe", "promote")]
    [InlineData("    retrain: always", "retrain")]
    public void A_bad_field_is_named_in_one_line(string block, string field)
    {
        var result = Parse(block + "\n");

        var error = Assert.Single(result.Errors);
        Assert.Empty(result.Trainers);
        Assert.Contains($"trainer 'knn': continuous: ", error.Reason, StringComparison.Ordinal);
        Assert.Contains(field, error.Reason, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.ToString());
        Assert.True(error.Line >= 4, error.ToString());
    }
}

/// <summary>
/// Two gateway-admin replicas on one RabbitMQ vhost and one PostgreSQL database, evaluating the
/// same policies at the same (fake) instant over and over: each threshold crossing and each
/// schedule tick starts exactly one run — one dataset, one train job whose request names the trigger.
/// </summary>
[Trait("Category", "Integration")]
public sealed class ContinuousTriggersFireExactlyOnceTests : IAsyncLifetime
{
    private readonly FakeCluster _cluster = new();
    private readonly FakeTimeProvider _clock = new(ContinuousTestWorld.DaysAgo(6));
    private AdminTestHost _a = null!;
    private AdminTestHost _b = null!;
    private WebApplication _telemetry = null!;

    public async Task InitializeAsync()
    {
        var specs = TestInfra.TempDirectory("continuous-replicas");
        await File.WriteAllTextAsync(Path.Combine(specs, "t.yaml"), """
            burst:
              trainer_image: t
              model_name: burst-router
              env: {FAKE: ok}
              continuous: {triggers: {new_decisions: 1000}, cooldown_seconds: 0, max_running: 5}
            nightly:
              trainer_image: t
              model_name: nightly-router
              env: {FAKE: ok}
              continuous: {triggers: {schedule: "0 3 * * *"}, cooldown_seconds: 0, max_running: 5}
            """);
        var vhost = await TestInfra.CreateVirtualHostAsync("continuous-replicas");
        var db = await TestInfra.CreateDatabaseAsync("continuous_replicas");
        _telemetry = await ContinuousTestWorld.StartTelemetryAsync(vhost, db);
        _a = await ContinuousTestWorld.StartAdminAsync(vhost, db, specs, _clock, _cluster);
        _b = await ContinuousTestWorld.StartAdminAsync(vhost, db, specs, _clock);
    }

    public async Task DisposeAsync()
    {
        await _b.DisposeAsync();
        await _a.DisposeAsync();
        await _telemetry.StopAsync();
        await _telemetry.DisposeAsync();
    }

    [Fact]
    public async Task New_decisions_and_schedule_triggers_fire_once_across_two_replicas()
    {
        var t0 = _clock.GetUtcNow();
        Assert.Equal(0, await ContinuousTestWorld.EvaluateConcurrentlyAsync(2, _a, _b));

        // 1,500 decisions (≥ 1,000) after the policy began: one run, whichever replica wins.
        await ContinuousTestWorld.IngestAsync(_telemetry, ContinuousTestWorld.Events(7, 1500, t0.AddMinutes(5), shifted: false));
        _clock.SetUtcNow(t0.AddMinutes(30));
        Assert.Equal(1, await ContinuousTestWorld.EvaluateConcurrentlyAsync(4, _a, _b));
        var burst = Assert.Single(await ContinuousTestWorld.RunsAsync(_a, "burst"));
        Assert.Equal((Triggers.NewDecisions, RunStates.Started), (burst.Trigger, burst.State));
        var job = await _a.WaitForJobAsync(burst.JobId!.Value.ToString(), j => (string?)j["state"] == "succeeded", TimeSpan.FromSeconds(60));
        Assert.Equal("new_decisions", (string?)job["request"]!["continuous"]!["trigger"]);
        Assert.Equal(1500, (long)job["request"]!["continuous"]!["details"]!["new_decisions"]!);
        Assert.Equal(burst.DatasetId, (string?)job["request"]!["dataset"]);
        Assert.Equal(1, _cluster.Dispatched.Count(d => d.Trainer == "burst"));

        // Counted from the run's window end on: nothing new, nothing fires.
        _clock.SetUtcNow(t0.AddMinutes(40));
        Assert.Equal(0, await ContinuousTestWorld.EvaluateConcurrentlyAsync(4, _a, _b));

        // Schedule 03:00 UTC: four ticks passed since the policy began (t0 is a midnight) → one run, not four.
        _clock.SetUtcNow(t0.AddDays(3).AddHours(4));
        Assert.Equal(1, await ContinuousTestWorld.EvaluateConcurrentlyAsync(4, _a, _b));
        var nightly = Assert.Single(await ContinuousTestWorld.RunsAsync(_a, "nightly"));
        Assert.Equal(Triggers.Schedule, nightly.Trigger);
        Assert.Contains("\"occurrences_since_last\":4", nightly.DetailsJson, StringComparison.Ordinal);
        _clock.SetUtcNow(t0.AddDays(3).AddHours(4.5));
        Assert.Equal(0, await ContinuousTestWorld.EvaluateConcurrentlyAsync(4, _a, _b));
        _clock.SetUtcNow(t0.AddDays(4).AddHours(3));
        Assert.Equal(1, await ContinuousTestWorld.EvaluateConcurrentlyAsync(4, _a, _b));
        Assert.Equal(2, (await ContinuousTestWorld.RunsAsync(_b, "nightly")).Count);
        Assert.Single(await ContinuousTestWorld.RunsAsync(_b, "burst"));
    }
}

/// <summary>Pause and cooldown are rows in the ledger, not memory: a restarted replica still honours them; a schedule missed while down runs once.</summary>
[Trait("Category", "Integration")]
public sealed class ContinuousPolicyStateSurvivesRestartTests : IAsyncLifetime
{
    private readonly FakeCluster _cluster = new();
    private readonly FakeTimeProvider _clock = new(ContinuousTestWorld.DaysAgo(5));
    private string _vhost = "";
    private string _db = "";
    private string _specs = "";
    private AdminTestHost _admin = null!;
    private WebApplication _telemetry = null!;

    public async Task InitializeAsync()
    {
        _specs = TestInfra.TempDirectory("continuous-restart");
        await File.WriteAllTextAsync(Path.Combine(_specs, "t.yaml"), """
            steady:
              trainer_image: t
              model_name: steady-router
              env: {FAKE: ok}
              continuous: {triggers: {new_decisions: 100, schedule: "0 12 * * *"}, cooldown_seconds: 3600, max_running: 1}
            """);
        _vhost = await TestInfra.CreateVirtualHostAsync("continuous-restart");
        _db = await TestInfra.CreateDatabaseAsync("continuous_restart");
        _telemetry = await ContinuousTestWorld.StartTelemetryAsync(_vhost, _db);
        _admin = await ContinuousTestWorld.StartAdminAsync(_vhost, _db, _specs, _clock, _cluster);
    }

    public async Task DisposeAsync()
    {
        await _admin.DisposeAsync();
        await _telemetry.StopAsync();
        await _telemetry.DisposeAsync();
    }

    private async Task RestartAsync()
    {
        await _admin.DisposeAsync();
        _admin = await ContinuousTestWorld.StartAdminAsync(_vhost, _db, _specs, _clock, _cluster);
    }

    private Task<int> EvaluateAsync() => ContinuousTestWorld.EvaluateConcurrentlyAsync(1, _admin);

    /// <summary>Waits until the trainer's started runs have finished their jobs: a run still training counts against max_running.</summary>
    private async Task RunsFinishedAsync()
    {
        foreach (var run in await ContinuousTestWorld.RunsAsync(_admin, "steady"))
        {
            Assert.NotNull(run.JobId);
            await _admin.WaitForJobAsync(run.JobId.Value.ToString(), j => (string?)j["state"] == "succeeded", TimeSpan.FromSeconds(60));
        }
    }

    [Fact]
    public async Task Pause_and_cooldown_hold_across_restarts_and_a_missed_schedule_runs_once()
    {
        var t0 = _clock.GetUtcNow();
        Assert.Equal(0, await EvaluateAsync());
        var (status, paused, _) = await _admin.PostAsync("/admin/continuous/steady/pause", null);
        Assert.Equal((200, true), (status, (bool)paused["paused"]!));

        await ContinuousTestWorld.IngestAsync(_telemetry, ContinuousTestWorld.Events(11, 300, t0.AddMinutes(5), shifted: false));
        _clock.SetUtcNow(t0.AddMinutes(20));
        Assert.Equal(0, await EvaluateAsync());
        await RestartAsync();
        Assert.Equal(0, await EvaluateAsync());
        var (_, listed) = await _admin.GetAsync("/admin/continuous");
        var steady = listed["trainers"]!["steady"]!;
        Assert.True((bool)steady["paused"]!);
        Assert.Equal(300, (long)steady["counters"]!["new_decisions"]!);

        Assert.Equal(200, (await _admin.PostAsync("/admin/continuous/steady/resume", null)).Status);
        Assert.Equal(1, await EvaluateAsync());
        await RunsFinishedAsync();

        // Cooldown (1 h from t0+20 min) outlives a restart although new decisions are there.
        await ContinuousTestWorld.IngestAsync(_telemetry, ContinuousTestWorld.Events(12, 300, t0.AddMinutes(25), shifted: false));
        _clock.SetUtcNow(t0.AddMinutes(40));
        await RestartAsync();
        Assert.Equal(0, await EvaluateAsync());
        (_, listed) = await _admin.GetAsync("/admin/continuous");
        Assert.NotNull(listed["trainers"]!["steady"]!["cooldown_until"]);
        _clock.SetUtcNow(t0.AddMinutes(90));
        Assert.Equal(1, await EvaluateAsync());
        Assert.Equal([Triggers.NewDecisions, Triggers.NewDecisions], (await ContinuousTestWorld.RunsAsync(_admin, "steady")).Select(r => r.Trigger));
        await RunsFinishedAsync();

        // Down for three days (t0 is a midnight: three 12:00 ticks): one scheduled run on start, not three.
        await _admin.DisposeAsync();
        _clock.SetUtcNow(t0.AddDays(3).AddHours(2));
        _admin = await ContinuousTestWorld.StartAdminAsync(_vhost, _db, _specs, _clock, _cluster);
        Assert.Equal(1, await EvaluateAsync());
        _clock.Advance(TimeSpan.FromHours(1.5));
        Assert.Equal(0, await EvaluateAsync());
        var runs = await ContinuousTestWorld.RunsAsync(_admin, "steady");
        Assert.Equal(Triggers.Schedule, runs[^1].Trigger);
        Assert.Equal(3, runs.Count);
        await _admin.WaitForJobAsync(runs[^1].JobId!.Value.ToString(), j => (string?)j["state"] == "succeeded", TimeSpan.FromSeconds(60));

        // A manual trigger answers with its job; unknown trainers are a 404 naming the field.
        _clock.Advance(TimeSpan.FromHours(1));
        var (accepted, run, _) = await _admin.PostAsync("/admin/continuous/steady/trigger", null);
        Assert.True(accepted == 202, run.ToJsonString());
        Assert.Equal("manual", (string?)run["trigger"]);
        Assert.NotNull(run["job_id"]);
        var (missing, problem, _) = await _admin.PostAsync("/admin/continuous/nobody/pause", null);
        Assert.Equal((404, "trainer"), (missing, (string?)problem["field"]));
    }
}
