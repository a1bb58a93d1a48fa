using Docker.DotNet;
using RouteIQ.Contracts;
using RouteIQ.Testing;

namespace RouteIQ.TrainerRunner.Tests.Runner;

/// <summary>SIGTERM / host stop: running jobs get the grace period, then are stopped, removed and handed back.</summary>
[Trait("Category", "Integration")]
public sealed class ShutdownTests(VhostFixture fixture) : IClassFixture<VhostFixture>, IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);
    private readonly DockerClient _docker = TestDocker.CreateClient();
    private readonly BusProbe _probe = fixture.Probe;

    public void Dispose() => _docker.Dispose();

    [Fact]
    public async Task A_job_still_running_after_the_grace_is_stopped_removed_and_handed_back()
    {
        var runner = await RunnerHost.StartAsync(fixture.RabbitUri, $"stop-{Guid.NewGuid():N}"[..13],
            new Dictionary<string, string?> { ["RouteIQ:Runner:ShutdownGraceSeconds"] = "1" });
        var request = BusProbe.Job("echo working; sleep 120");
        await _probe.SendAsync(request);
        var started = await _probe.WaitForAsync<TrainStarted>(s => s.JobId == request.JobId, Wait);

        await runner.DisposeAsync();

        var failed = await _probe.WaitForAsync<TrainFailed>(f => f.JobId == request.JobId, Wait);
        Assert.True(failed.HandedBack);
        Assert.False(failed.Cancelled);
        Assert.Equal("runner shut down", failed.Reason);
        Assert.Equal(runner.Node, failed.Node);
        await Assert.ThrowsAsync<DockerContainerNotFoundException>(() => _docker.Containers.InspectContainerAsync(started.WorkloadName));
    }

    [Fact]
    public async Task A_job_that_ends_within_the_grace_completes_normally()
    {
        var runner = await RunnerHost.StartAsync(fixture.RabbitUri, $"grace-{Guid.NewGuid():N}"[..14],
            new Dictionary<string, string?> { ["RouteIQ:Runner:ShutdownGraceSeconds"] = "30" });
        var request = BusProbe.Job("sleep 2; echo m > /output/model.bin");
        await _probe.SendAsync(request);
        await _probe.WaitForAsync<TrainStarted>(s => s.JobId == request.JobId, Wait);

        await runner.DisposeAsync();

        var completed = await _probe.WaitForAsync<TrainCompleted>(c => c.JobId == request.JobId, Wait);
        Assert.Equal(["model.bin"], completed.Files.Select(f => f.Path));
        Assert.DoesNotContain(_probe.All<TrainFailed>(), f => f.JobId == request.JobId);
    }
}
