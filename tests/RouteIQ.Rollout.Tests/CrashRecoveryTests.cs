using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using RouteIQ.Artifacts;
using RouteIQ.Contracts;
using RouteIQ.Rollout.Registry;
using RouteIQ.Testing;

namespace RouteIQ.Rollout.Tests;

/// <summary>
/// Rollout killed in the middle of a roll (its own OS process, PostgreSQL, RabbitMQ, file store,
/// process launcher): after a restart exactly one version is active, serving, published and
/// verifiable, and no serving workload is left behind.
/// </summary>
[Trait("Category", "Integration")]
public sealed class CrashRecoveryTests : IAsyncLifetime
{
    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>A failed run must not leave servers behind for the next one.</summary>
    public async Task DisposeAsync()
    {
        foreach (var port in ServingProcesses.Ports(Model))
        {
            ServingProcesses.Kill(Model, port);
        }
    }

    private readonly string Model = $"crashy-{Guid.NewGuid():N}"[..14];

    [Fact]
    public async Task A_rollout_killed_before_publish_after_publish_or_after_switch_restarts_into_a_consistent_state()
    {
        var settings = await RolloutTestHost.SettingsAsync("rollout-crash");
        settings["ConnectionStrings:RouteIQ"] = await TestInfra.CreateDatabaseAsync("rollout_crash");
        settings["RouteIQ:Rollout:StopServersOnShutdown"] = "false";
        var logs = TestInfra.TempDirectory("rollout-crash-logs");
        await using var observer = await RolloutTestHost.StartAsync(settings, withRollout: false);

        var first = await RolloutProcess.StartAsync(settings, logs);
        var v1 = await observer.WaitRegisteredAsync(await observer.CompleteTrainingAsync(Model, "{\"v\":1}", serveCommand: TestServer.ProcessCommand()));
        var v2 = await observer.WaitRegisteredAsync(await observer.CompleteTrainingAsync(Model, "{\"v\":2}", serveCommand: TestServer.ProcessCommand()));
        RolloutTestHost.Succeeded(await observer.RollAsync(Model, v1.ToString()));
        first.KillHard();
        await first.WaitForExitAsync(TimeSpan.FromSeconds(30));
        await first.DisposeAsync();
        // The stable endpoint process notices its rollout is gone (its stdin closes) and exits: no orphan holds the port.
        await TestInfra.WaitUntilAsync(() => Task.FromResult(EdgeProcesses.For(settings["RouteIQ:Rollout:PublicUrl"]!).Count == 0),
            TimeSpan.FromSeconds(20), "the killed rollout's stable endpoint process to exit");

        var vhost = Uri.UnescapeDataString(new Uri(settings["ConnectionStrings:RabbitMq"]!).AbsolutePath.TrimStart('/'));
        var steps = new[] { "before-publish", "after-publish", "after-switch" };
        var lastJob = Guid.Empty;
        foreach (var step in steps)
        {
            await using var crashing = await RolloutProcess.StartAsync(settings, logs, crashAt: step);
            await AssertConsistentAsync(observer, expectedVersion: v1, $"restart before the roll that dies {step}", crashing);
            lastJob = await observer.PublishRollAsync(Model, v2.ToString());
            await crashing.WaitForExitAsync(TimeSpan.FromSeconds(90));
            Assert.True(crashing.HasExited, $"rollout did not die at {step}");
            Assert.False(observer.Outcomes.WaitAsync(lastJob, TimeSpan.Zero).IsCompletedSuccessfully, $"a roll that died at {step} reported an outcome");
            if (step != steps[^1])
            {
                // Drop the unacknowledged roll, so the next start shows the state the crash left.
                await TestInfra.RunAsync("rabbitmqctl", "purge_queue", "-p", vhost, "rollout.roll-requested");
            }
        }

        // The last crashed roll is redelivered to the restarted rollout, which completes it.
        var lastSettings = new Dictionary<string, string?>(settings) { ["RouteIQ:Rollout:StopServersOnShutdown"] = "true" };
        var last = await RolloutProcess.StartAsync(lastSettings, logs);
        try
        {
            var resumed = RolloutTestHost.Succeeded(await observer.Outcomes.WaitAsync(lastJob, TimeSpan.FromSeconds(90)));
            Assert.Equal(v2, resumed.Version);
            Assert.Equal(v1, resumed.PreviousVersion);
            await AssertConsistentAsync(observer, expectedVersion: v2, "after the redelivered roll", last);

            var factory = observer.Services.GetRequiredService<IDbContextFactory<RegistryDbContext>>();
            await using var db = await factory.CreateDbContextAsync();
            Assert.Equal([v1, v2], await db.Deployments.OrderBy(d => d.Sequence).Select(d => d.Version).ToListAsync());
        }
        finally
        {
            await last.StopAsync();
            var leftOver = ServingProcesses.Ports(Model);
            foreach (var port in leftOver)
            {
                ServingProcesses.Kill(Model, port);
            }
            Assert.Empty(leftOver);
            Assert.Empty(EdgeProcesses.For(settings["RouteIQ:Rollout:PublicUrl"]!));
        }
    }

    private async Task AssertConsistentAsync(RolloutTestHost observer, int expectedVersion, string when, RolloutProcess process)
    {
        try
        {
            Assert.Equal(expectedVersion, await observer.InvokeAsync(Model));
            var active = await observer.RequestAsync<GetActiveDeployment, ActiveDeployment>(new GetActiveDeployment { ModelName = Model });
            Assert.Equal(expectedVersion, active.Deployment!.Version);
            Assert.True(active.Deployment.Healthy);

            var prefix = ArtifactKeys.PublishedModel(Model);
            await using var stream = await observer.Store.OpenReadAsync(prefix + ModelManifest.FileName);
            using var buffer = new MemoryStream();
            await stream.CopyToAsync(buffer);
            var manifest = ModelManifest.Parse(buffer.ToArray());
            Assert.Equal(expectedVersion.ToString(), manifest.Version);
            await manifest.VerifyFilesAsync((path, ct) => observer.Store.OpenReadAsync(prefix + path, ct));

            Assert.Single(ServingProcesses.Ports(Model));
        }
        catch (Exception ex)
        {
            throw new Xunit.Sdk.XunitException($"{when}: {ex.Message}\n--- rollout log ---\n{process.LogTail()}");
        }
    }
}
