using RouteIQ.Testing;
using RouteIQ.Workloads;

namespace RouteIQ.TrainerRunner.Tests.Workloads;

/// <summary>
/// The one contract every launcher keeps (see "Workload contract" in ARCHITECTURE.md). Each
/// launcher runs the same scenarios through <see cref="DockerLauncherContractTests"/> and
/// <see cref="ProcessLauncherContractTests"/>; scripts only use <c>$ROUTEIQ_OUTPUT_DIR</c>, so they
/// mean the same in a container and in a local process.
/// </summary>
[Trait("Category", "Integration")]
public abstract class WorkloadLauncherContract : IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);
    private readonly List<IWorkload> _started = [];

    protected string Root { get; } = TestInfra.TempDirectory("workload-contract");

    protected string Node { get; } = $"contract-{Guid.NewGuid():N}"[..20];

    /// <summary>A launcher; a second call models the same node's runner after a restart.</summary>
    protected abstract IWorkloadLauncher CreateLauncher();

    /// <summary>A spec whose workload runs <c>/bin/sh -c script</c>.</summary>
    protected abstract WorkloadSpec ShellSpec(string name, string script);

    /// <summary>The value of <c>ROUTEIQ_OUTPUT_DIR</c> the workload sees for <paramref name="hostOutput"/>.</summary>
    protected abstract string OutputDirSeenBy(string hostOutput);

    /// <summary>True once nothing of the workload is left (container removed / process gone).</summary>
    protected abstract Task<bool> IsGoneAsync(IWorkload workload);

    protected abstract WorkloadSpec UnknownWorkloadSpec(string name);

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var workload in _started)
        {
            await workload.DisposeAsync();
        }
    }

    protected async Task<(IWorkload Workload, string Output)> StartAsync(IWorkloadLauncher launcher, string script,
        Func<WorkloadSpec, WorkloadSpec>? customize = null, Guid? jobId = null)
    {
        var job = jobId ?? Guid.NewGuid();
        var output = Path.Combine(Root, job.ToString("N"));
        var name = $"routeiq-train-contract-{job.ToString("N")[..8]}";
        var spec = ShellSpec(name, script) with
        {
            OutputDirectory = output,
            Labels = new Dictionary<string, string>
            {
                [WorkloadLabels.JobId] = job.ToString(),
                [WorkloadLabels.Trainer] = "contract",
                [WorkloadLabels.Node] = Node,
            },
        };
        var workload = await launcher.StartAsync(customize?.Invoke(spec) ?? spec);
        _started.Add(workload);
        return (workload, output);
    }

    [Fact]
    public async Task A_trainer_writes_its_model_and_metrics_into_the_output_directory()
    {
        var launcher = CreateLauncher();
        var (workload, output) = await StartAsync(launcher,
            "echo training; echo weights > \"$ROUTEIQ_OUTPUT_DIR/model.bin\"; echo '{\"acc\":0.9}' > \"$ROUTEIQ_OUTPUT_DIR/metrics.json\"; echo done");

        var exit = await workload.Completion.WaitAsync(Wait);

        Assert.Equal(new WorkloadExit(0, TimedOut: false, Stopped: false), exit);
        Assert.Equal("weights\n", await File.ReadAllTextAsync(Path.Combine(output, "model.bin")));
        Assert.Equal("{\"acc\":0.9}\n", await File.ReadAllTextAsync(Path.Combine(output, "metrics.json")));
        Assert.Equal("training\ndone\n", workload.FullLog());
        Assert.StartsWith("routeiq-train-contract-", workload.Name);

        await workload.DisposeAsync();
        Assert.True(await IsGoneAsync(workload), $"{workload.Name} is still there after dispose");
    }

    [Fact]
    public async Task The_workload_sees_the_spec_environment_and_the_injected_output_dir_wins()
    {
        var launcher = CreateLauncher();
        var (workload, output) = await StartAsync(launcher, "env > \"$ROUTEIQ_OUTPUT_DIR/env.txt\"", spec => spec with
        {
            Environment = new Dictionary<string, string>
            {
                ["LEARNING_RATE"] = "0.01",
                ["WITH_SPACES"] = "a b  c",
                ["ROUTEIQ_OUTPUT_DIR"] = "/somewhere/else",
            },
        });

        Assert.Equal(0, (await workload.Completion.WaitAsync(Wait)).ExitCode);

        var seen = (await File.ReadAllLinesAsync(Path.Combine(output, "env.txt")))
            .Select(line => line.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1]);
        Assert.Equal("0.01", seen["LEARNING_RATE"]);
        Assert.Equal("a b  c", seen["WITH_SPACES"]);
        Assert.Equal(OutputDirSeenBy(output), seen["ROUTEIQ_OUTPUT_DIR"]);
        // Nothing of the runner's own environment leaks in (credentials live there).
        Assert.DoesNotContain(seen.Keys, k => k.StartsWith("AWS_", StringComparison.Ordinal) || k.StartsWith("ROUTEIQ_TEST_", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_failing_trainer_reports_its_exit_code_and_log_tail()
    {
        var launcher = CreateLauncher();
        var (workload, _) = await StartAsync(launcher,
            
            // Docker keeps stdout and stderr in separate pipes (their order within a few
            // milliseconds is not preserved), hence the pause.
            "i=0; while [ $i -lt 300 ]; do echo \"line $i of a long log\"; i=$((i+1)); done; sleep 0.5; echo 'fatal: out of data' >&2; exit 3");

        var exit = await workload.Completion.WaitAsync(Wait);

        Assert.Equal(new WorkloadExit(3, TimedOut: false, Stopped: false), exit);
        var tail = workload.LogTail(1200);
        Assert.Equal(1200, tail.Length);
        Assert.EndsWith("fatal: out of data\n", tail);
        Assert.StartsWith("line 0 of a long log", workload.FullLog());
    }

    [Fact]
    public async Task A_trainer_past_its_timeout_is_killed_and_reported_as_exit_124()
    {
        var launcher = CreateLauncher();
        var (workload, _) = await StartAsync(launcher, "echo started; sleep 120; echo never",
            spec => spec with { Timeout = TimeSpan.FromSeconds(2) });

        var exit = await workload.Completion.WaitAsync(Wait);

        Assert.Equal(new WorkloadExit(WorkloadExit.TimeoutExitCode, TimedOut: true, Stopped: false), exit);
        Assert.Contains("started", workload.FullLog());
        Assert.DoesNotContain("never", workload.FullLog());
        await workload.DisposeAsync();
        Assert.True(await IsGoneAsync(workload));
    }

    [Fact]
    public async Task Logs_stream_while_the_workload_runs_and_stop_ends_it()
    {
        var launcher = CreateLauncher();
        var (workload, _) = await StartAsync(launcher, "echo first-line; sleep 120");

        await TestInfra.WaitUntilAsync(() => Task.FromResult(workload.LogTail().Contains("first-line")), Wait, "the first log line while running");
        Assert.False(workload.Completion.IsCompleted);

        await workload.StopAsync(TimeSpan.FromSeconds(1));

        var exit = await workload.Completion.WaitAsync(Wait);
        Assert.True(exit.Stopped);
        Assert.False(exit.TimedOut);
        Assert.NotEqual(0, exit.ExitCode);
        await workload.DisposeAsync();
        Assert.True(await IsGoneAsync(workload));
    }

    [Fact]
    public async Task Disposing_a_running_workload_removes_it()
    {
        var launcher = CreateLauncher();
        var (workload, _) = await StartAsync(launcher, "trap '' TERM; sleep 120");

        await workload.DisposeAsync();

        Assert.True(await IsGoneAsync(workload));
        Assert.True((await workload.Completion.WaitAsync(Wait)).Stopped);
    }

    [Fact]
    public async Task A_restarted_runner_removes_the_orphans_of_its_node_but_not_live_jobs()
    {
        var before = CreateLauncher();
        var orphanJob = Guid.NewGuid();
        var liveJob = Guid.NewGuid();
        var (orphan, _) = await StartAsync(before, "sleep 120", jobId: orphanJob);
        var (live, _) = await StartAsync(before, "sleep 120", jobId: liveJob);

        // The runner "restarts": a new launcher instance over the same node.
        var after = CreateLauncher();
        var removed = await after.RemoveOrphansAsync(Node, new HashSet<Guid> { liveJob });

        Assert.Equal([orphan.Name], removed);
        await TestInfra.WaitUntilAsync(() => IsGoneAsync(orphan), Wait, "the orphan to be gone");
        Assert.False(await IsGoneAsync(live));
        Assert.Empty(await after.RemoveOrphansAsync($"{Node}-other", new HashSet<Guid>()));
        Assert.False(await IsGoneAsync(live));
    }

    [Fact]
    public async Task A_workload_that_cannot_start_throws_a_launch_exception()
    {
        var launcher = CreateLauncher();

        var error = await Assert.ThrowsAsync<WorkloadLaunchException>(() =>
            launcher.StartAsync(UnknownWorkloadSpec($"routeiq-train-bad-{Guid.NewGuid():N}"[..28])));

        Assert.Contains("routeiq-train-bad-", error.Message);
    }
}
