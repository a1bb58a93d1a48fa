using RouteIQ.Contracts;

namespace RouteIQ.TrainerRunner.Tests.Runner;

/// <summary>N runners on one broker share the work without exceeding their slots; GPU jobs reach only GPU nodes.</summary>
[Trait("Category", "Integration")]
public sealed class CapacityTests(VhostFixture fixture) : IClassFixture<VhostFixture>
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(120);
    private readonly BusProbe _probe = fixture.Probe;

    [Fact]
    public async Task Two_runners_with_two_slots_each_share_twelve_jobs_never_running_more_than_two_at_once()
    {
        await using var a = await RunnerHost.StartAsync(fixture.RabbitUri, $"cap-a-{Guid.NewGuid():N}"[..14], new Dictionary<string, string?> { ["RouteIQ:Runner:Slots"] = "2" });
        await using var b = await RunnerHost.StartAsync(fixture.RabbitUri, $"cap-b-{Guid.NewGuid():N}"[..14], new Dictionary<string, string?> { ["RouteIQ:Runner:Slots"] = "2" });
        var jobs = Enumerable.Range(0, 12).Select(i => BusProbe.Job($"sleep 1; echo {i} > /output/model.bin")).ToList();

        foreach (var job in jobs)
        {
            await _probe.SendAsync(job);
        }
        foreach (var job in jobs)
        {
            await _probe.WaitForAsync<TrainCompleted>(c => c.JobId == job.JobId, Wait);
        }

        Assert.InRange(a.State.MaxConcurrent, 1, 2);
        Assert.InRange(b.State.MaxConcurrent, 1, 2);
        Assert.Equal(12, a.State.Taken + b.State.Taken);
        Assert.True(a.State.Taken > 0 && b.State.Taken > 0, $"both runners take work (a {a.State.Taken}, b {b.State.Taken})");
        // Seen from the bus as well: per node, never more than two jobs between start and end.
        foreach (var node in new[] { a.Node, b.Node })
        {
            Assert.InRange(MaxOverlap(node, jobs.Select(j => j.JobId)), 1, 2);
        }
        Assert.All(jobs, j => Assert.Single(_probe.All<TrainStarted>(), s => s.JobId == j.JobId));
    }

    [Fact]
    public async Task A_gpu_job_is_only_ever_started_by_a_runner_with_gpus()
    {
        var process = new Dictionary<string, string?>
        {
            ["RouteIQ:Workloads:Launcher"] = "Process",
            ["RouteIQ:Runner:Slots"] = "2",
        };
        await using var cpuOnly = await RunnerHost.StartAsync(fixture.RabbitUri, $"cpu-{Guid.NewGuid():N}"[..12], process);
        await using var gpu = await RunnerHost.StartAsync(fixture.RabbitUri, $"gpu-{Guid.NewGuid():N}"[..12],
            new Dictionary<string, string?>(process) { ["RouteIQ:Runner:Gpus"] = "1" });
        const string script = "sleep 0.3; echo m > \"$ROUTEIQ_OUTPUT_DIR/model.bin\"";
        var gpuJobs = Enumerable.Range(0, 3).Select(_ => BusProbe.Job(script, b => b.Gpus = 1)).ToList();
        var cpuJobs = Enumerable.Range(0, 4).Select(_ => BusProbe.Job(script)).ToList();
        var misrouted = BusProbe.Job(script, b => b.Gpus = 1);

        foreach (var job in gpuJobs.Concat(cpuJobs))
        {
            await _probe.SendAsync(job);
        }
        // A GPU job sent to the CPU queue: the CPU-only node hands it back rather than run it.
        await _probe.SendAsync(misrouted, RunnerQueues.Cpu);

        foreach (var job in gpuJobs.Concat(cpuJobs).Append(misrouted))
        {
            await _probe.WaitForAsync<TrainCompleted>(c => c.JobId == job.JobId, Wait);
        }
        foreach (var job in gpuJobs.Append(misrouted))
        {
            Assert.Equal(gpu.Node, Assert.Single(_probe.All<TrainStarted>(), s => s.JobId == job.JobId).Node);
        }
        Assert.True(cpuOnly.State.Taken > 0, "the CPU node takes CPU jobs");
    }

    private int MaxOverlap(string node, IEnumerable<Guid> jobIds)
    {
        var ids = jobIds.ToHashSet();
        var points = _probe.All<TrainStarted>().Where(s => s.Node == node && ids.Contains(s.JobId)).Select(s => (s.StartedAt, +1))
            .Concat(_probe.All<TrainCompleted>().Where(c => c.Node == node && ids.Contains(c.JobId)).Select(c => (c.CompletedAt, -1)))
            .OrderBy(p => p.Item1).ThenBy(p => p.Item2);
        int current = 0, max = 0;
        foreach (var (_, delta) in points)
        {
            current += delta;
            max = Math.Max(max, current);
        }
        return max;
    }
}
