using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RouteIQ.Testing;
using RouteIQ.Workloads;

namespace RouteIQ.TrainerRunner.Tests.Workloads;

[Trait("Category", "Integration")]
public sealed class ProcessLauncherContractTests : WorkloadLauncherContract
{
    private readonly string _state = TestInfra.TempDirectory("process-state");

    protected override IWorkloadLauncher CreateLauncher() => new ProcessWorkloadLauncher(
        Options.Create(new WorkloadsOptions { StateDirectory = _state }),
        NullLogger<ProcessWorkloadLauncher>.Instance, TimeProvider.System);

    protected override WorkloadSpec ShellSpec(string name, string script) =>
        new() { Name = name, Image = "shell", Command = ["/bin/sh", "-c", script] };

    protected override string OutputDirSeenBy(string hostOutput) => Path.GetFullPath(hostOutput);

    protected override Task<bool> IsGoneAsync(IWorkload workload) =>
        Task.FromResult(!IsAlive(int.Parse(workload.Id, System.Globalization.CultureInfo.InvariantCulture)));

    protected override WorkloadSpec UnknownWorkloadSpec(string name) =>
        new() { Name = name, Image = "shell", Command = ["/nonexistent/trainer", "--fast"] };

    private static bool IsAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }

    [Fact]
    public async Task Stopping_kills_the_whole_process_tree()
    {
        var (workload, output) = await StartAsync(CreateLauncher(),
            "sh -c 'sleep 120' & echo $! > \"$ROUTEIQ_OUTPUT_DIR/child.pid\"; wait");
        var pidFile = Path.Combine(output, "child.pid");
        await TestInfra.WaitUntilAsync(() => Task.FromResult(File.Exists(pidFile) && new FileInfo(pidFile).Length > 0),
            TimeSpan.FromSeconds(30), "the child's pid file");
        var child = int.Parse((await File.ReadAllTextAsync(pidFile)).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(IsAlive(child));

        await workload.StopAsync(TimeSpan.FromSeconds(1));

        await TestInfra.WaitUntilAsync(() => Task.FromResult(!IsAlive(child)), TimeSpan.FromSeconds(10), "the child to die");
    }

    [Fact]
    public async Task Children_left_behind_by_an_exited_trainer_are_killed()
    {
        var (workload, output) = await StartAsync(CreateLauncher(),
            "sleep 120 > /dev/null 2>&1 & echo $! > \"$ROUTEIQ_OUTPUT_DIR/child.pid\"; exit 0");

        Assert.Equal(0, (await workload.Completion.WaitAsync(TimeSpan.FromSeconds(30))).ExitCode);

        var child = int.Parse((await File.ReadAllTextAsync(Path.Combine(output, "child.pid"))).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        await TestInfra.WaitUntilAsync(() => Task.FromResult(!IsAlive(child)), TimeSpan.FromSeconds(10), "the child to die");
    }

    [Fact]
    public async Task A_built_in_image_without_a_command_maps_to_its_dll_or_names_the_setting()
    {
        var launcher = new ProcessWorkloadLauncher(
            Options.Create(new WorkloadsOptions
            {
                StateDirectory = _state,
                BuiltIns = new(StringComparer.OrdinalIgnoreCase) { ["routeiq/router-trainer"] = "/nonexistent/dir" },
            }),
            NullLogger<ProcessWorkloadLauncher>.Instance, TimeProvider.System);

        var missing = await Assert.ThrowsAsync<WorkloadLaunchException>(() =>
            launcher.StartAsync(new WorkloadSpec { Name = "builtin", Image = "routeiq/router-trainer:1.0" }));
        Assert.Contains("/nonexistent/dir/RouteIQ.RouterTrainer.dll", missing.Message);
        Assert.Contains("RouteIQ:Workloads:BuiltIns:routeiq/router-trainer", missing.Message);

        var unknown = await Assert.ThrowsAsync<WorkloadLaunchException>(() =>
            launcher.StartAsync(new WorkloadSpec { Name = "other", Image = "ghcr.io/acme/trainer:2" }));
        Assert.Contains("needs a command", unknown.Message);
    }

    [Fact]
    public async Task A_runner_killed_with_its_workload_leaves_a_record_that_the_next_one_uses()
    {
        var job = Guid.NewGuid();
        var (orphan, output) = await StartAsync(CreateLauncher(),
            "sleep 120 & echo $! > \"$ROUTEIQ_OUTPUT_DIR/child.pid\"; wait", jobId: job);
        var pidFile = Path.Combine(output, "child.pid");
        await TestInfra.WaitUntilAsync(() => Task.FromResult(File.Exists(pidFile) && new FileInfo(pidFile).Length > 0),
            TimeSpan.FromSeconds(30), "the child's pid file");
        var child = int.Parse((await File.ReadAllTextAsync(pidFile)).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.Single(Directory.GetFiles(_state, "*.json"), f => File.ReadAllText(f).Contains(job.ToString()));

        var removed = await CreateLauncher().RemoveOrphansAsync(Node, new HashSet<Guid>());

        Assert.Equal([orphan.Name], removed);
        await TestInfra.WaitUntilAsync(() => Task.FromResult(!IsAlive(child)), TimeSpan.FromSeconds(10), "the orphan's child to die");
        Assert.DoesNotContain(Directory.GetFiles(_state, "*.json"), f => File.ReadAllText(f).Contains(job.ToString()));
    }
}
