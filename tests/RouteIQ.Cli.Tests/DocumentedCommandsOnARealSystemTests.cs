using System.Text.Json.Nodes;

namespace RouteIQ.Cli.Tests;

/// <summary>
/// The commands the README and docs/operations.md name, against a running <c>routeiq demo</c>
/// (one process, embedded defaults): <c>routing config</c> prints the gateway settings from the
/// registry, <c>status</c> takes the model, a roll job's <c>logs</c> say what it did, <c>jobs</c>
/// is a table with whole ids, and <c>roll knn-router @production</c> works as written.
/// </summary>
[Trait("Category", "Integration")]
public sealed class DocumentedCommandsOnARealSystemTests
{
    [Fact]
    public async Task RoutingConfigStatusLogsAndRollWorkAsDocumented()
    {
        await using var demo = await RunningDemo.StartAsync("cli-demo");
        var admin = demo.Admin;

        var config = await CliProcess.RunAsync("--server", admin, "routing", "config", "knn-router");
        Assert.True(config.ExitCode == 0, config.ToString());
        Assert.Contains("routing_strategy: llmrouter-knn", config.Stdout);
        Assert.Contains("hot_reload: true", config.Stdout);
        Assert.Contains("reload_interval: 30", config.Stdout);
        Assert.Contains("model_s3_bucket: null", config.Stdout); // file:// artifacts in the embedded mode
        var pinned = JsonNode.Parse((await CliProcess.RunAsync("--server", admin, "--json", "routing", "config", "knn-router", "1")).Stdout)!;
        Assert.False(pinned["hot_reload"]!.GetValue<bool>());
        Assert.EndsWith("registry/knn-router/1/", pinned["model_uri"]!.GetValue<string>());
        Assert.Equal(5, (await CliProcess.RunAsync("--server", admin, "routing", "config", "knn-router", "@nope")).ExitCode);

        var roll = await CliProcess.RunAsync("--server", admin, "--json", "roll", "knn-router", "@production");
        Assert.True(roll.ExitCode == 0, roll.ToString());
        var rollJob = JsonNode.Parse(roll.Stdout)!["job_id"]!.GetValue<string>();
        var logs = await CliProcess.RunAsync("--server", admin, "logs", rollJob);
        Assert.Contains("runs no workload", logs.Stdout);
        // Which version is production by now depends on the demo's continuous-training step (v1, or v2 after drift).
        Assert.Matches(@"knn-router v\d+ \(production\) active at", logs.Stdout);

        var status = await CliProcess.RunAsync("--server", admin, "status", "knn-router");
        Assert.True(status.ExitCode == 0, status.ToString());
        Assert.Contains("knn-router", status.Stdout);

        var jobs = await CliProcess.RunAsync("--server", admin, "jobs");
        Assert.Contains(rollJob, jobs.Stdout);
        Assert.StartsWith("JOB ID", jobs.Stdout);

        // README "Continuous training": the list, pause and resume, as written.
        var continuous = await CliProcess.RunAsync("--server", admin, "continuous");
        Assert.True(continuous.ExitCode == 0, continuous.ToString());
        Assert.Contains("knn-router", continuous.Stdout);
        var pause = await CliProcess.RunAsync("--server", admin, "continuous", "pause", "knn-router");
        Assert.True(pause.ExitCode == 0, pause.ToString());
        var listed = JsonNode.Parse((await CliProcess.RunAsync("--server", admin, "--json", "continuous")).Stdout)!;
        Assert.True(listed["trainers"]!["knn-router"]!["paused"]!.GetValue<bool>(), listed.ToJsonString());
        Assert.Matches(@"knn-router\s+paused", (await CliProcess.RunAsync("--server", admin, "continuous")).Stdout);
        var resume = await CliProcess.RunAsync("--server", admin, "continuous", "resume", "knn-router");
        Assert.True(resume.ExitCode == 0, resume.ToString());
        listed = JsonNode.Parse((await CliProcess.RunAsync("--server", admin, "--json", "continuous")).Stdout)!;
        Assert.False(listed["trainers"]!["knn-router"]!["paused"]!.GetValue<bool>(), listed.ToJsonString());
        Assert.Equal(5, (await CliProcess.RunAsync("--server", admin, "continuous", "pause", "nobody")).ExitCode);
    }
}
