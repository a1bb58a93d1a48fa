using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RouteIQ.ServiceDefaults;
using RouteIQ.Testing;
using RouteIQ.Workloads;

namespace RouteIQ.TrainerRunner.Tests.Workloads;

/// <summary><c>RouteIQ:Workloads:Launcher</c>: configured wins; unset means Docker when its endpoint answers, else Process.</summary>
[Trait("Category", "Integration")]
public sealed class LauncherSelectionTests
{
    private static IWorkloadLauncher Resolve(Dictionary<string, string?> settings, int registrations = 1)
    {
        var builder = Host.CreateApplicationBuilder();
        settings["RouteIQ:DataDir"] = TestInfra.TempDirectory("launcher-selection");
        builder.Configuration.AddInMemoryCollection(settings);
        for (var i = 0; i < registrations; i++)
        {
            builder.AddRouteIQWorkloads();
        }
        Assert.Single(builder.Services, d => d.ServiceType == typeof(IWorkloadLauncher));
        return builder.Build().Services.GetRequiredService<IWorkloadLauncher>();
    }

    [Fact]
    public void A_configured_launcher_is_used_whatever_answers()
    {
        Assert.Equal("process", Resolve(new() { ["RouteIQ:Workloads:Launcher"] = "process", ["RouteIQ:Workloads:DockerHost"] = TestInfra.DockerHost }).Kind);
        Assert.Equal("docker", Resolve(new() { ["RouteIQ:Workloads:Launcher"] = "Docker" }).Kind);
    }

    [Fact]
    public void Unset_it_is_docker_when_the_socket_answers_else_process()
    {
        Assert.Equal("docker", Resolve(new() { ["RouteIQ:Workloads:DockerHost"] = TestInfra.DockerHost }).Kind);
        Assert.Equal("process", Resolve(new() { ["RouteIQ:Workloads:DockerHost"] = "unix:///nonexistent/docker.sock" }).Kind);
        // A TCP endpoint nobody listens on: the probe gives up, it does not hang.
        Assert.Equal("process", Resolve(new()
        {
            ["RouteIQ:Workloads:DockerHost"] = $"tcp://127.0.0.1:{TestInfra.FreePort()}",
            ["RouteIQ:Workloads:DockerProbeSeconds"] = "1",
        }).Kind);
    }

    [Fact]
    public void Registering_twice_keeps_one_launcher()
    {
        Assert.Equal("process", Resolve(new() { ["RouteIQ:Workloads:Launcher"] = "Process" }, registrations: 2).Kind);
    }

    [Fact]
    public void An_unknown_launcher_is_a_configuration_error_naming_the_key()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["RouteIQ:Workloads:Launcher"] = "Kubernetes" });

        var error = Assert.Throws<RouteIQConfigurationException>(() => builder.AddRouteIQWorkloads());

        Assert.Equal("RouteIQ:Workloads:Launcher", error.Key);
        Assert.Contains("'Kubernetes'", error.Message);
    }
}
