using Docker.DotNet;
using RouteIQ.Testing;

namespace RouteIQ.TrainerRunner.Tests;

/// <summary>The tests' own Docker Engine client (API 1.41, as the launcher pins it).</summary>
public static class TestDocker
{
    public static DockerClient CreateClient() =>
        new DockerClientConfiguration(new Uri(TestInfra.DockerHost)).CreateClient(new System.Version(1, 41));

    public static async Task<bool> ContainerExistsAsync(this DockerClient docker, string nameOrId)
    {
        try
        {
            await docker.Containers.InspectContainerAsync(nameOrId);
            return true;
        }
        catch (DockerContainerNotFoundException)
        {
            return false;
        }
    }
}
