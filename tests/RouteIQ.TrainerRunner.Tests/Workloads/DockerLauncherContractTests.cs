using Docker.DotNet;
using Docker.DotNet.Models;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RouteIQ.Contracts;
using RouteIQ.Testing;
using RouteIQ.Workloads;

namespace RouteIQ.TrainerRunner.Tests.Workloads;

[Trait("Category", "Integration")]
public sealed class DockerLauncherContractTests : WorkloadLauncherContract, IDisposable
{
    private readonly DockerClient _docker = TestDocker.CreateClient();
    private readonly List<DockerWorkloadLauncher> _launchers = [];

    protected override IWorkloadLauncher CreateLauncher()
    {
        var launcher = new DockerWorkloadLauncher(Options.Create(new WorkloadsOptions { DockerHost = TestInfra.DockerHost }),
            NullLogger<DockerWorkloadLauncher>.Instance);
        _launchers.Add(launcher);
        return launcher;
    }

    protected override WorkloadSpec ShellSpec(string name, string script) =>
        new() { Name = name, Image = TestInfra.TestImage, Command = ["/bin/sh", "-c", script] };

    protected override string OutputDirSeenBy(string hostOutput) => "/output";

    protected override async Task<bool> IsGoneAsync(IWorkload workload) => !await _docker.ContainerExistsAsync(workload.Id);

    protected override WorkloadSpec UnknownWorkloadSpec(string name) =>
        new() { Name = name, Image = "routeiq/no-such-image:never", Command = ["true"] };

    public void Dispose()
    {
        foreach (var launcher in _launchers)
        {
            launcher.Dispose();
        }
        _docker.Dispose();
    }

    [Fact]
    public async Task Containers_carry_labels_host_networking_and_resource_limits()
    {
        var job = Guid.NewGuid();
        var (workload, output) = await StartAsync(CreateLauncher(), "sleep 120", spec => spec with
        {
            Resources = new ResourceLimits { MemoryBytes = 64L * 1024 * 1024, Cpus = 0.5 },
        }, jobId: job);

        var inspect = await _docker.Containers.InspectContainerAsync(workload.Id);

        Assert.Equal($"/{workload.Name}", inspect.Name);
        Assert.Equal(job.ToString(), inspect.Config.Labels[WorkloadLabels.JobId]);
        Assert.Equal("contract", inspect.Config.Labels[WorkloadLabels.Trainer]);
        Assert.Equal(Node, inspect.Config.Labels[WorkloadLabels.Node]);
        Assert.Equal("host", inspect.HostConfig.NetworkMode);
        Assert.Equal(64L * 1024 * 1024, inspect.HostConfig.Memory);
        Assert.Equal(500_000_000L, inspect.HostConfig.NanoCPUs);
        Assert.Contains($"{Path.GetFullPath(output)}:/output", inspect.HostConfig.Binds);
        Assert.Equal(["/bin/sh", "-c", "sleep 120"], inspect.Config.Cmd);
    }

    [Fact]
    public async Task A_gpu_request_reaches_the_daemon_and_a_node_without_gpus_refuses_it()
    {
        // This daemon has no GPU runtime: the request is sent (device request, capability gpu,
        // count -1) and the daemon refuses to start it, which must surface as a launch error
        // and leave no container behind.
        var name = $"routeiq-train-gpu-{Guid.NewGuid():N}"[..26];
        var error = await Assert.ThrowsAsync<WorkloadLaunchException>(() => CreateLauncher().StartAsync(
            ShellSpec(name, "true") with { Gpus = -1 }));

        Assert.Contains("gpu", error.Message, StringComparison.OrdinalIgnoreCase);
        var left = await _docker.Containers.ListContainersAsync(new ContainersListParameters
        {
            All = true,
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["name"] = new Dictionary<string, bool> { [name] = true } },
        });
        Assert.Empty(left);
    }
}
