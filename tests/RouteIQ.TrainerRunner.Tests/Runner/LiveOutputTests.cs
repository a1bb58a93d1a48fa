using RouteIQ.Contracts;

namespace RouteIQ.TrainerRunner.Tests.Runner;

/// <summary>
/// A running job's output reaches the bus as it is written (<see cref="TrainLogAppended"/>), not only with the next
/// heartbeat or at the end: a line shows up before any heartbeat, chunks are contiguous by offset, and nothing is sent twice.
/// </summary>
[Trait("Category", "Integration")]
public sealed class LiveOutputTests(VhostFixture fixture) : IClassFixture<VhostFixture>
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Each_line_is_published_while_the_job_runs_in_order_and_once()
    {
        await using var runner = await RunnerHost.StartAsync(fixture.RabbitUri, $"live-{Guid.NewGuid():N}"[..13], new Dictionary<string, string?>
        {
            ["RouteIQ:Workloads:Launcher"] = "Process",
            // Heartbeats (which carry the tail) far apart: a line seen early came by the live stream.
            ["RouteIQ:Runner:HeartbeatSeconds"] = "600",
            ["RouteIQ:Runner:LogStreamMilliseconds"] = "100",
        });
        var gate = Testing.TestInfra.TempDirectory("live-gate");
        // The trainer writes a line, then waits for the test to let it write the next one.
        var request = BusProbe.Job(
            $"echo 'line 1'; while [ ! -f {gate}/2 ]; do sleep 0.05; done; echo 'line 2'; while [ ! -f {gate}/end ]; do sleep 0.05; done; echo 'line 3'");
        await fixture.Probe.SendAsync(request);

        var first = await fixture.Probe.WaitForAsync<TrainLogAppended>(l => l.JobId == request.JobId && l.Text.Contains("line 1"), Wait);
        Assert.Equal(0, first.Offset);
        Assert.Equal(request.Attempt, first.Attempt);
        Assert.Equal(runner.Node, first.Node);

        await File.WriteAllTextAsync(Path.Combine(gate, "2"), "");
        await fixture.Probe.WaitForAsync<TrainLogAppended>(l => l.JobId == request.JobId && l.Text.Contains("line 2"), Wait);
        // Before any heartbeat (10 minutes apart) and before the end: it came by the live stream.
        Assert.DoesNotContain(fixture.Probe.For(request.JobId), e => e is TrainCompleted or TrainHeartbeat);

        await File.WriteAllTextAsync(Path.Combine(gate, "end"), "");
        await fixture.Probe.WaitForEndAsync(request.JobId, Wait);
        var chunks = fixture.Probe.All<TrainLogAppended>().Where(l => l.JobId == request.JobId).ToList();
        var expected = 0L;
        foreach (var chunk in chunks)
        {
            Assert.Equal(expected, chunk.Offset);
            expected += chunk.Text.Length;
        }
        var text = string.Concat(chunks.Select(c => c.Text));
        Assert.StartsWith("line 1\nline 2\n", text);
    }
}
