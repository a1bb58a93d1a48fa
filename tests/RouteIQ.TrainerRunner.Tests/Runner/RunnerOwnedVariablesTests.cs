using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RouteIQ.Contracts;
using RouteIQ.Testing;
using RouteIQ.Workloads;

namespace RouteIQ.TrainerRunner.Tests.Runner;

/// <summary>
/// The runner owns its variables even for messages that reach the bus without passing
/// gateway-admin, and a relative command is found on the runner's own PATH, never the job's.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
[Trait("Category", "Integration")]
public sealed class RunnerOwnedVariablesTests(VhostFixture fixture) : IClassFixture<VhostFixture>
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData("LD_PRELOAD")]
    [InlineData("dotnet_startup_hooks")]
    [InlineData("Routeiq_Output_Dir")]
    public async Task A_runner_owned_parameter_arriving_on_the_bus_fails_the_job_without_running_it(string name)
    {
        await using var runner = await RunnerHost.StartAsync(fixture.RabbitUri, $"owned-{Guid.NewGuid():N}"[..14],
            new Dictionary<string, string?> { ["RouteIQ:Workloads:Launcher"] = "Process" });
        var marker = Path.Combine(TestInfra.TempDirectory("owned-marker"), "ran");
        var request = BusProbe.Job($"touch {marker}", b =>
        {
            b.Environment[name] = "/tmp/evil";
            b.Parameters[name] = "/tmp/evil";
        });

        await fixture.Probe.SendAsync(request);

        var failed = await fixture.Probe.WaitForAsync<TrainFailed>(f => f.JobId == request.JobId, Wait);
        Assert.Contains($"'{name}'", failed.Reason);
        Assert.DoesNotContain(fixture.Probe.All<TrainStarted>(), s => s.JobId == request.JobId);
        Assert.False(File.Exists(marker));
    }

    [Fact]
    public async Task A_relative_command_resolves_with_the_runners_path_not_the_jobs()
    {
        var bin = TestInfra.TempDirectory("evil-path");
        var program = $"riq-probe-{Guid.NewGuid():N}"[..18];
        var script = Path.Combine(bin, program);
        await File.WriteAllTextAsync(script, "#!/bin/sh\necho hijacked\n");
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var launcher = new ProcessWorkloadLauncher(
            Options.Create(new WorkloadsOptions { StateDirectory = TestInfra.TempDirectory("owned-state") }),
            NullLogger<ProcessWorkloadLauncher>.Instance, TimeProvider.System);

        var error = await Assert.ThrowsAsync<WorkloadLaunchException>(() => launcher.StartAsync(new WorkloadSpec
        {
            Name = "relative",
            Image = "shell",
            Command = [program],
            Environment = new Dictionary<string, string> { ["PATH"] = bin + ":/usr/bin:/bin" },
            OutputDirectory = TestInfra.TempDirectory("owned-out"),
        }));
        Assert.Contains($"'{program}' not found", error.Message);

        // A relative name on the runner's own PATH still runs, with the job's PATH in its environment.
        await using var workload = await launcher.StartAsync(new WorkloadSpec
        {
            Name = "relative-ok",
            Image = "shell",
            Command = ["sh", "-c", "echo \"$PATH\""],
            Environment = new Dictionary<string, string> { ["PATH"] = bin },
            OutputDirectory = TestInfra.TempDirectory("owned-out"),
        });
        Assert.Equal(0, (await workload.Completion.WaitAsync(Wait)).ExitCode);
        Assert.Contains(bin, workload.FullLog());
    }
}
