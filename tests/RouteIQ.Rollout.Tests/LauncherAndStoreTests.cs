using RouteIQ.Artifacts;
using RouteIQ.Contracts;
using RouteIQ.Testing;

namespace RouteIQ.Rollout.Tests;

/// <summary>Serving workloads as Docker containers (host network, model bind-mounted read-only at /model).</summary>
[Trait("Category", "Integration")]
public sealed class DockerRolloutTests
{
    private static async Task<string[]> ContainersAsync(string model)
    {
        var output = await TestInfra.RunAsync("docker", "ps", "-a", "-q", "--filter", $"label=routeiq.model={model}", "--filter", "label=routeiq.role=serve");
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    [Fact]
    public async Task Containers_are_rolled_out_switched_retired_and_rolled_back()
    {
        var model = $"docker-{Guid.NewGuid():N}"[..15];
        var settings = await RolloutTestHost.SettingsAsync("rollout-docker");
        settings["RouteIQ:Workloads:Launcher"] = "Docker";
        settings["RouteIQ:Workloads:DockerHost"] = TestInfra.DockerHost;
        settings["RouteIQ:Rollout:ServeImage"] = TestInfra.TestImage;
        await using var host = await RolloutTestHost.StartAsync(settings);
        try
        {
            for (var i = 1; i <= 2; i++)
            {
                await host.WaitRegisteredAsync(await host.CompleteTrainingAsync(model, $"{{\"v\":{i}}}", serveCommand: TestServer.DockerCommand()));
            }

            var first = RolloutTestHost.Succeeded(await host.RollAsync(model, "1", serveImage: null));
            Assert.Equal(TestInfra.TestImage, first.ServeImage);
            Assert.Equal(1, await host.InvokeAsync(model));
            var firstContainers = await ContainersAsync(model);
            Assert.Single(firstContainers);

            RolloutTestHost.Succeeded(await host.RollAsync(model, "2", serveImage: null));
            Assert.Equal(2, await host.InvokeAsync(model));
            var secondContainers = await ContainersAsync(model);
            Assert.Single(secondContainers);
            Assert.NotEqual(firstContainers[0], secondContainers[0]);

            var back = RolloutTestHost.Succeeded(await host.RollAsync(model, null, rollback: true, serveImage: null));
            Assert.Equal(1, back.Version);
            Assert.Equal(1, await host.InvokeAsync(model));
            Assert.Single(await ContainersAsync(model));

            var never = Assert.IsType<RollFailed>(await host.RollAsync(model, "2", serveCommand: TestServer.DockerCommand(readyDelaySeconds: 3600), serveImage: null, waitReadySeconds: 3));
            Assert.Equal(503, never.StatusCode);
            Assert.Single(await ContainersAsync(model));
        }
        finally
        {
            await host.DisposeAsync();
            Assert.Empty(await ContainersAsync(model));
        }
    }
}

/// <summary>Registry and published models in S3 (s3rver); the server gets the s3:// URI and the configured S3 environment.</summary>
[Trait("Category", "Integration")]
public sealed class S3RolloutTests
{
    [Fact]
    public async Task Versions_are_registered_published_and_served_from_s3()
    {
        Environment.SetEnvironmentVariable("AWS_ACCESS_KEY_ID", TestInfra.S3AccessKey);
        Environment.SetEnvironmentVariable("AWS_SECRET_ACCESS_KEY", TestInfra.S3SecretKey);
        var prefix = $"rollout-tests-{Guid.NewGuid():N}";
        var model = "s3-model";
        var settings = await RolloutTestHost.SettingsAsync("rollout-s3");
        settings["RouteIQ:Artifacts:Uri"] = $"s3://{TestInfra.S3Bucket}/{prefix}/";
        settings["RouteIQ:Artifacts:ServiceUrl"] = TestInfra.S3Url;
        settings["RouteIQ:Rollout:ServeEnvironment:AWS_ENDPOINT_URL_S3"] = TestInfra.S3Url;
        settings["RouteIQ:Rollout:Signing:HmacKey"] = "s3-test-key";
        await using var host = await RolloutTestHost.StartAsync(settings);

        for (var i = 1; i <= 2; i++)
        {
            await host.WaitRegisteredAsync(await host.CompleteTrainingAsync(model, $"{{\"v\":{i}}}", serveCommand: TestServer.ProcessCommand()));
        }
        RolloutTestHost.Succeeded(await host.RollAsync(model, "1"));
        var rolled = RolloutTestHost.Succeeded(await host.RollAsync(model, "2"));

        Assert.Equal($"s3://{TestInfra.S3Bucket}/{prefix}/models/{model}/", rolled.ModelUri);
        Assert.Equal(2, await host.InvokeAsync(model));
        var published = new List<string>();
        await foreach (var entry in host.Store.ListAsync(ArtifactKeys.PublishedModel(model)))
        {
            published.Add(entry.Key[ArtifactKeys.PublishedModel(model).Length..]);
        }
        Assert.Equal(["manifest.json", "model.json", "weights/part-0.bin"], published);
        await using var stream = await host.Store.OpenReadAsync(ArtifactKeys.PublishedModel(model) + ModelManifest.FileName);
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer);
        var manifest = ModelManifest.Parse(buffer.ToArray());
        Assert.Equal("2", manifest.Version);
        manifest.VerifySignature(new HmacManifestSigner("s3-test-key"));
        await manifest.VerifyFilesAsync((path, ct) => host.Store.OpenReadAsync(ArtifactKeys.PublishedModel(model) + path, ct));

        var port = Assert.Single(ServingProcesses.Ports(model));
        var environment = ServeEnvironment(model, port);
        Assert.Equal($"s3://{TestInfra.S3Bucket}/{prefix}/registry/{model}/2/", environment["SERVE_MODEL_URI"]);
        Assert.Equal(TestInfra.S3Url, environment["AWS_ENDPOINT_URL_S3"]);
    }

    private static Dictionary<string, string> ServeEnvironment(string model, string port)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc").Where(d => int.TryParse(Path.GetFileName(d), out _)))
        {
            try
            {
                var env = File.ReadAllText(Path.Combine(dir, "environ")).Split('\0', StringSplitOptions.RemoveEmptyEntries);
                if (env.Contains($"ROUTEIQ_MODEL={model}") && env.Contains($"SERVE_PORT={port}"))
                {
                    return env.Select(e => e.Split('=', 2)).Where(p => p.Length == 2).GroupBy(p => p[0]).ToDictionary(g => g.Key, g => g.First()[1]);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
        throw new Xunit.Sdk.XunitException($"no serving process of {model} on port {port}");
    }
}
