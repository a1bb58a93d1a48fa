using RouteIQ.Contracts;
using RouteIQ.Rollout.Rollouts;
using RouteIQ.Testing;

namespace RouteIQ.Rollout.Tests;

/// <summary>
/// kill -9 of the rollout service in the middle of a canary step (its own OS process,
/// PostgreSQL, RabbitMQ): the split dies with it (the stable endpoint process exits with its
/// parent), and the restarted service rolls the candidate back — its server removed, the
/// rollout <c>rolled_back</c> with the reason, the roll failed — so no split is ever served that
/// nobody judges.
/// </summary>
[Trait("Category", "Integration")]
public sealed class CanaryRestartRollsBackTests : IAsyncLifetime
{
    private readonly string _model = $"canary-kill-{Guid.NewGuid():N}"[..18];

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        foreach (var port in ServingProcesses.Ports(_model))
        {
            ServingProcesses.Kill(_model, port);
        }
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Kill_9_mid_canary_rolls_the_candidate_back_after_restart_and_only_production_answers()
    {
        var settings = await RolloutTestHost.SettingsAsync("rollout-canary-kill");
        settings["ConnectionStrings:RouteIQ"] = await TestInfra.CreateDatabaseAsync("rollout_canary_kill");
        settings["RouteIQ:Rollout:StopServersOnShutdown"] = "false";
        settings["RouteIQ:Rollout:JudgeIntervalMilliseconds"] = "100";
        var logs = TestInfra.TempDirectory("rollout-canary-kill-logs");
        await using var observer = await RolloutTestHost.StartAsync(settings, withRollout: false);

        var first = await RolloutProcess.StartAsync(settings, logs);
        var v1 = await PromotionTestKit.RegisterAsync(observer, _model);
        var v2 = await PromotionTestKit.RegisterAsync(observer, _model);
        RolloutTestHost.Succeeded(await observer.Outcomes.WaitAsync(await PromotionTestKit.PublishRollAsync(observer, _model, v1, null), TimeSpan.FromSeconds(60)));

        var job = await PromotionTestKit.PublishRollAsync(observer, _model, v2, new Promotion
        {
            Canary = new PromotionCanary { Steps = [50, 100], StepSeconds = 600, MinRequests = 1 },
        });
        await PromotionTestKit.WaitStateAsync(observer, job, r => r.State == RolloutStates.Canary && r.Weight == 50, "the canary's first step");
        // Traffic reaches both versions before the kill.
        var seen = new HashSet<int>();
        await TestInfra.WaitUntilAsync(async () =>
        {
            seen.Add(await observer.InvokeAsync(_model));
            return seen.Contains(v2);
        }, TimeSpan.FromSeconds(30), "the candidate to answer a share of the traffic");
        Assert.Equal(2, ServingProcesses.Ports(_model).Count);

        first.KillHard();
        await first.WaitForExitAsync(TimeSpan.FromSeconds(30));
        await first.DisposeAsync();
        await TestInfra.WaitUntilAsync(() => Task.FromResult(EdgeProcesses.For(settings["RouteIQ:Rollout:PublicUrl"]!).Count == 0),
            TimeSpan.FromSeconds(20), "the killed rollout's stable endpoint process to exit");

        var restarted = await RolloutProcess.StartAsync(new Dictionary<string, string?>(settings) { ["RouteIQ:Rollout:StopServersOnShutdown"] = "true" }, logs);
        try
        {
            var failed = Assert.IsType<RollFailed>(await observer.Outcomes.WaitAsync(job, TimeSpan.FromSeconds(60)));
            Assert.Contains("restarted during canary step 0", failed.Reason);
            var record = await PromotionTestKit.RecordAsync(observer, job);
            Assert.Equal(RolloutStates.RolledBack, record!.State);
            Assert.Contains(observer.PromotionEvents.RolledBack, e => e.RolloutId == job && e.Reason.Contains("restarted", StringComparison.Ordinal));
            // Only production answers; the candidate's server is gone.
            for (var i = 0; i < 40; i++)
            {
                Assert.Equal(v1, await observer.InvokeAsync(_model));
            }
            Assert.Single(ServingProcesses.Ports(_model));
        }
        catch (Exception ex)
        {
            throw new Xunit.Sdk.XunitException($"{ex.Message}\n--- rollout log ---\n{restarted.LogTail()}");
        }
        finally
        {
            await restarted.StopAsync();
            await restarted.DisposeAsync();
        }
    }
}
