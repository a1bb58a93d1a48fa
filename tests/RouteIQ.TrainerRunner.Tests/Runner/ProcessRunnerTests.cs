using Microsoft.Extensions.DependencyInjection;
using RouteIQ.Artifacts;
using RouteIQ.Contracts;

namespace RouteIQ.TrainerRunner.Tests.Runner;

/// <summary>The runner with the process launcher and a file artifact store (what <c>routeiq up</c> uses).</summary>
[Trait("Category", "Integration")]
public sealed class ProcessRunnerTests(VhostFixture fixture) : IClassFixture<VhostFixture>
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);
    private readonly BusProbe _probe = fixture.Probe;

    private Task<RunnerHost> StartRunnerAsync() => RunnerHost.StartAsync(fixture.RabbitUri, $"proc-{Guid.NewGuid():N}"[..13],
        new Dictionary<string, string?> { ["RouteIQ:Workloads:Launcher"] = "Process", ["RouteIQ:Runner:Slots"] = "2" });

    [Fact]
    public async Task A_local_trainer_completes_and_its_output_lands_in_the_file_store()
    {
        await using var runner = await StartRunnerAsync();
        var request = BusProbe.Job(
            "echo \"job $ROUTEIQ_JOB_ID\"; echo model > \"$ROUTEIQ_OUTPUT_DIR/model.json\"; echo '{\"auc\":0.75}' > \"$ROUTEIQ_OUTPUT_DIR/metrics.json\"");

        await _probe.SendAsync(request);

        var completed = await _probe.WaitForAsync<TrainCompleted>(c => c.JobId == request.JobId, Wait);
        Assert.Equal(0.75, completed.Metrics["auc"]);
        Assert.Equal("knn-router", completed.ModelName);
        var store = runner.App.Services.GetRequiredService<IArtifactStore>();
        Assert.True(await store.ExistsAsync(ArtifactKeys.RunOutput(request.JobId) + "model.json"));
        await using var log = await store.OpenReadAsync(ArtifactKeys.RunLogs(request.JobId));
        Assert.Equal($"job {request.JobId}\n", await new StreamReader(log).ReadToEndAsync());
    }

    [Fact]
    public async Task Cancelling_a_local_trainer_kills_its_process_tree()
    {
        await using var runner = await StartRunnerAsync();
        var pidDir = Testing.TestInfra.TempDirectory("cancel-pids");
        var request = BusProbe.Job($"sleep 120 & echo $! > {pidDir}/child.pid; wait");
        await _probe.SendAsync(request);
        await _probe.WaitForAsync<TrainStarted>(s => s.JobId == request.JobId, Wait);
        var pidFile = Path.Combine(pidDir, "child.pid");
        await Testing.TestInfra.WaitUntilAsync(() => Task.FromResult(File.Exists(pidFile) && new FileInfo(pidFile).Length > 0), Wait, "the child's pid");
        var child = int.Parse((await File.ReadAllTextAsync(pidFile)).Trim(), System.Globalization.CultureInfo.InvariantCulture);

        await _probe.PublishAsync(new CancelTrain { JobId = request.JobId, RequestedAt = DateTimeOffset.UtcNow });

        var failed = await _probe.WaitForAsync<TrainFailed>(f => f.JobId == request.JobId, Wait);
        Assert.True(failed.Cancelled);
        Assert.False(Directory.Exists($"/proc/{child}") && !File.ReadAllText($"/proc/{child}/stat").Contains(") Z "),
            "the trainer's child process must be gone");
    }

    [Fact]
    public async Task A_cancel_that_arrives_before_the_job_is_taken_ends_it_cancelled_without_running()
    {
        var request = BusProbe.Job("echo should-not-run > \"$ROUTEIQ_OUTPUT_DIR/model.bin\"");
        await using var runner = await StartRunnerAsync();
        await _probe.PublishAsync(new CancelTrain { JobId = request.JobId, RequestedAt = DateTimeOffset.UtcNow });
        await Testing.TestInfra.WaitUntilAsync(() => Task.FromResult(runner.State.IsCancelled(request.JobId, 1)), Wait, "the cancel to arrive");

        await _probe.SendAsync(request);

        var failed = await _probe.WaitForAsync<TrainFailed>(f => f.JobId == request.JobId, Wait);
        Assert.True(failed.Cancelled);
        Assert.DoesNotContain(_probe.All<TrainStarted>(), s => s.JobId == request.JobId);
    }
}
