namespace RouteIQ.Rollout.Tests;

/// <summary>
/// Issue 15 §4: a model server started as a local process (embedded mode) is told to bind loopback
/// (<c>SERVE_HOST</c>, which the router server reads; it used to default to 0.0.0.0), unless
/// <c>RouteIQ:Rollout:ServeHost</c> says otherwise.
/// </summary>
[Trait("Category", "Integration")]
public sealed class ModelServerBindsLoopbackTests
{
    [Theory]
    [InlineData(null, "127.0.0.1")]
    [InlineData("0.0.0.0", "0.0.0.0")]
    public async Task ProcessServersGetTheConfiguredBindAddress(string? configured, string expected)
    {
        var model = $"bind-{Guid.NewGuid():N}"[..13];
        var settings = await RolloutTestHost.SettingsAsync("rollout-bind");
        settings["RouteIQ:Rollout:ServeHost"] = configured;
        await using var host = await RolloutTestHost.StartAsync(settings);
        await host.WaitRegisteredAsync(await host.CompleteTrainingAsync(model, "{\"v\":1}", serveCommand: TestServer.ProcessCommand()));

        RolloutTestHost.Succeeded(await host.RollAsync(model, "1"));

        var port = Assert.Single(ServingProcesses.Ports(model));
        var environment = ServingProcesses.Live("environ")
            .Select(p => p.Values)
            .First(env => env.Contains($"ROUTEIQ_MODEL={model}") && env.Contains($"SERVE_PORT={port}"));
        Assert.Contains($"SERVE_HOST={expected}", environment);
    }
}
