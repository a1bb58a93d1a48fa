using Microsoft.Extensions.DependencyInjection;
using RouteIQ.Testing;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using RouteIQ.Artifacts;
using RouteIQ.Contracts;

namespace RouteIQ.Rollout.Tests;

[Trait("Category", "Integration")]
public sealed class ProcessRolloutFixture : IAsyncLifetime
{
    public RolloutTestHost Host { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var settings = await RolloutTestHost.SettingsAsync("rollout-bg");
        settings["RouteIQ:Rollout:SupervisionSeconds"] = "1";
        Host = await RolloutTestHost.StartAsync(settings);
    }

    public async Task DisposeAsync() => await Host.DisposeAsync();
}

/// <summary>Blue/green rollouts through the stable endpoint: process launcher, SQLite, file store, RabbitMQ.</summary>
[Trait("Category", "Integration")]
public sealed class BlueGreenRolloutTests(ProcessRolloutFixture fixture) : IClassFixture<ProcessRolloutFixture>
{
    private RolloutTestHost Host => fixture.Host;

    private async Task<int[]> RegisterAsync(string model, int count)
    {
        var versions = new List<int>();
        for (var i = 0; i < count; i++)
        {
            var job = await Host.CompleteTrainingAsync(model, $"{{\"model\":\"{model}\",\"n\":{i}}}", serveCommand: TestServer.ProcessCommand());
            versions.Add(await Host.WaitRegisteredAsync(job));
        }
        return versions.ToArray();
    }

    private static ModelRolledOut RolledOut(object outcome) => RolloutTestHost.Succeeded(outcome);

    [Fact]
    public async Task Clients_see_no_failed_request_and_one_version_switch_per_rollout_across_5_rollouts_and_2_rollbacks()
    {
        const string model = "zero-downtime";
        var versions = await RegisterAsync(model, 6);
        Assert.Equal([1, 2, 3, 4, 5, 6], versions);
        RolledOut(await Host.RollAsync(model, "1"));

        using var stop = new CancellationTokenSource();
        var results = Enumerable.Range(0, 2).Select(_ => new LoopResult([], [])).ToArray();
        var loops = results.Select(r => Task.Run(() => ClientLoopAsync(model, r, stop.Token))).ToArray();
        var expected = new List<int> { 1 };
        for (var v = 2; v <= 6; v++)
        {
            var rolled = RolledOut(await Host.RollAsync(model, v.ToString()));
            Assert.Equal(v, rolled.Version);
            expected.Add(v);
        }
        for (var i = 0; i < 2; i++)
        {
            var rolled = RolledOut(await Host.RollAsync(model, null, rollback: true));
            Assert.True(rolled.IsRollback);
            expected.Add(rolled.Version);
        }
        Assert.Equal([1, 2, 3, 4, 5, 6, 5, 6], expected);
        // The clients go on after the last switch until each has made more than 50 requests (on a
        // loaded machine the rolls can be over before that), so the stable endpoint is also shown
        // serving steadily once the rollouts are done.
        var settle = Stopwatch.StartNew();
        // A wait on a condition (every client past 50 requests), polled every half second; at the time bound it falls
        // through to the assertions below, which say which client was short.
        do await Task.Delay(500);
        while (results.Any(r => Volatile.Read(ref r.Completed) <= 50) && settle.Elapsed < TimeSpan.FromSeconds(60));
        stop.Cancel();
        await Task.WhenAll(loops);

        foreach (var result in results)
        {
            Assert.Empty(result.Failures);
            Assert.True(result.Versions.Count > 50, $"only {result.Versions.Count} requests completed");
            // Collapse runs of equal answers: the sequence of versions a client saw.
            var seen = result.Versions.Where((v, i) => i == 0 || result.Versions[i - 1] != v).ToList();
            Assert.Equal(expected, seen);
        }
        Assert.Single(ServingProcesses.Ports(model));

        // Any older version stays reachable by version, and the history keeps every step.
        Assert.Equal(2, RolledOut(await Host.RollAsync(model, "2")).Version);
        Assert.Equal(2, await Host.InvokeAsync(model));
        var history = await Host.RequestAsync<GetDeploymentHistory, DeploymentHistory>(new GetDeploymentHistory { ModelName = model });
        Assert.Equal([2, 6, 5, 6, 5, 4, 3, 2, 1], history.Deployments.Select(d => d.Version));
        Assert.Equal([false, true, true, false, false, false, false, false, false], history.Deployments.Select(d => d.IsRollback));
        Assert.Equal(history.Deployments[1].DeploymentId, history.Deployments[0].PreviousDeploymentId);
        Assert.True(history.Deployments[0].Active);
        Assert.All(history.Deployments.Skip(1), d => Assert.False(d.Active));
        Assert.All(history.Deployments.Skip(1), d => Assert.NotNull(d.RetiredAt));
    }

    private sealed record LoopResult(List<int> Versions, List<string> Failures)
    {
        public int Completed;
    }

    private async Task ClientLoopAsync(string model, LoopResult result, CancellationToken stop)
    {
        using var http = new HttpClient { BaseAddress = new Uri(Host.PublicUrl), Timeout = TimeSpan.FromSeconds(10) };
        var deadline = Stopwatch.StartNew();
        while (!stop.IsCancellationRequested && deadline.Elapsed < TimeSpan.FromMinutes(2) && result.Versions.Count < 20_000)
        {
            try
            {
                using var response = await http.PostAsJsonAsync($"/{model}/invocations", new { query = "which model?" }, CancellationToken.None);
                var body = await response.Content.ReadAsStringAsync(CancellationToken.None);
                if (!response.IsSuccessStatusCode)
                {
                    result.Failures.Add($"{(int)response.StatusCode}: {body}");
                    continue;
                }
                result.Versions.Add(JsonDocument.Parse(body).RootElement.GetProperty("version").GetInt32());
                Interlocked.Increment(ref result.Completed);
            }
            catch (Exception ex)
            {
                result.Failures.Add(ex.Message);
            }
        }
    }

    [Fact]
    public async Task A_candidate_that_never_gets_healthy_fails_with_503_and_changes_nothing()
    {
        const string model = "never-healthy";
        await RegisterAsync(model, 2);
        RolledOut(await Host.RollAsync(model, "1"));
        var manifestBefore = await ReadPublishedManifestAsync(model);

        var outcome = await Host.RollAsync(model, "2", serveCommand: TestServer.ProcessCommand(readyDelaySeconds: 3600), waitReadySeconds: 3);

        var failed = Assert.IsType<RollFailed>(outcome);
        Assert.Equal(503, failed.StatusCode);
        Assert.StartsWith("candidate not healthy", failed.Reason);
        Assert.Equal(1, await Host.InvokeAsync(model));
        Assert.Single(ServingProcesses.Ports(model));
        Assert.Equal(manifestBefore, await ReadPublishedManifestAsync(model));
        var active = await Host.RequestAsync<GetActiveDeployment, ActiveDeployment>(new GetActiveDeployment { ModelName = model });
        Assert.Equal(1, active.Deployment!.Version);
        Assert.True(active.Deployment.Healthy);
    }

    private async Task<string> ReadPublishedManifestAsync(string model)
    {
        await using var stream = await Host.Store.OpenReadAsync(ArtifactKeys.PublishedModel(model) + ModelManifest.FileName);
        return await new StreamReader(stream).ReadToEndAsync();
    }

    [Fact]
    public async Task Two_rolls_of_one_model_are_serialized_and_leave_one_consistent_active_deployment()
    {
        const string model = "serialized";
        await RegisterAsync(model, 3);
        RolledOut(await Host.RollAsync(model, "1"));

        var slow = TestServer.ProcessCommand(readyDelaySeconds: 2);
        var first = await Host.PublishRollAsync(model, "2", slow);
        var second = await Host.PublishRollAsync(model, "3", slow);
        var a = RolledOut(await Host.Outcomes.WaitAsync(first, TimeSpan.FromSeconds(90)));
        var b = RolledOut(await Host.Outcomes.WaitAsync(second, TimeSpan.FromSeconds(90)));

        // Whichever went second saw the first as its predecessor: no two rolls raced on "active".
        var (earlier, later) = a.RolledOutAt <= b.RolledOutAt ? (a, b) : (b, a);
        Assert.Equal(1, earlier.PreviousVersion);
        Assert.Equal(earlier.Version, later.PreviousVersion);

        var history = await Host.RequestAsync<GetDeploymentHistory, DeploymentHistory>(new GetDeploymentHistory { ModelName = model });
        Assert.Equal(3, history.Deployments.Count);
        var active = Assert.Single(history.Deployments, d => d.Active);
        Assert.Equal(later.Version, active.Version);
        Assert.Equal(later.Version, await Host.InvokeAsync(model));
        Assert.Single(ServingProcesses.Ports(model));
        var resolved = await Host.RequestAsync<ResolveModelVersion, ModelVersionResolved>(new ResolveModelVersion { ModelName = model, Ref = "@production" });
        Assert.Equal(later.Version, resolved.Version);
    }

    [Fact]
    public async Task Two_models_roll_independently_in_parallel()
    {
        await RegisterAsync("parallel-a", 1);
        await RegisterAsync("parallel-b", 1);

        // A's candidate never gets healthy and holds A's roll for its full wait; B must not wait for it.
        var blocked = await Host.PublishRollAsync("parallel-a", "1", TestServer.ProcessCommand(readyDelaySeconds: 3600), waitReadySeconds: 20);
        await TestInfra.WaitUntilAsync(() => Task.FromResult(ServingProcesses.Ports("parallel-a").Count == 1), TimeSpan.FromSeconds(20), "A's candidate started");
        var free = await Host.PublishRollAsync("parallel-b", "1");

        var bOutcome = await Host.Outcomes.WaitAsync(free, TimeSpan.FromSeconds(60));
        Assert.False(Host.Outcomes.WaitAsync(blocked, TimeSpan.Zero).IsCompletedSuccessfully, "A's roll finished before B's");
        Assert.Equal(1, RolledOut(bOutcome).Version);
        Assert.Equal(1, await Host.InvokeAsync("parallel-b"));

        var aOutcome = Assert.IsType<RollFailed>(await Host.Outcomes.WaitAsync(blocked, TimeSpan.FromSeconds(60)));
        Assert.Equal(503, aOutcome.StatusCode);
        Assert.Empty(ServingProcesses.Ports("parallel-a"));
    }

    [Fact]
    public async Task Bad_roll_requests_fail_with_the_status_the_admin_api_answers()
    {
        const string model = "bad-requests";
        await RegisterAsync(model, 1);

        var unknownVersion = Assert.IsType<RollFailed>(await Host.RollAsync(model, "9"));
        Assert.Equal(404, unknownVersion.StatusCode);
        var unknownAlias = Assert.IsType<RollFailed>(await Host.RollAsync(model, "@staging"));
        Assert.Equal(404, unknownAlias.StatusCode);
        var badRef = Assert.IsType<RollFailed>(await Host.RollAsync(model, "latest"));
        Assert.Equal(400, badRef.StatusCode);
        Assert.Contains("ref must be '@alias' or integer version", badRef.Reason);
        var noImage = Assert.IsType<RollFailed>(await Host.RollAsync(model, "1", serveImage: null));
        Assert.Equal(422, noImage.StatusCode);
        Assert.Equal("no serving image", noImage.Reason);
        var noPrevious = Assert.IsType<RollFailed>(await Host.RollAsync(model, null, rollback: true));
        Assert.Equal(409, noPrevious.StatusCode);
        Assert.Equal("no previous deployment recorded for rollback", noPrevious.Reason);

        var notFound = await Host.RequestAsync<ResolveModelVersion, ModelVersionNotFound>(new ResolveModelVersion { ModelName = model, Ref = "@production" });
        Assert.Contains("not found", notFound.Reason);
        Assert.Empty(ServingProcesses.Ports(model));
    }

    [Fact]
    public async Task Roll_on_success_registers_publishes_and_serves_the_new_version_and_a_redelivery_changes_nothing()
    {
        const string model = "roll-on-success";
        var job = await Host.CompleteTrainingAsync(model, "{\"k\":1}", rollOnSuccess: true, serveCommand: TestServer.ProcessCommand(), serveImage: "test-serve");
        var rolled = RolledOut(await Host.Outcomes.WaitAsync(job, TimeSpan.FromSeconds(60)));
        Assert.Equal(1, rolled.Version);
        Assert.Equal("production", rolled.Alias);
        Assert.Equal($"{Host.PublicUrl}/{model}", rolled.PublicUrl);
        Assert.Equal(1, await Host.InvokeAsync(model));
        Assert.Equal(1, await Host.InvokeAsync(null));
        await TestInfra.WaitUntilAsync(() => Task.FromResult(Host.Outcomes.Registered.ContainsKey(job)), TimeSpan.FromSeconds(10), "ModelVersionRegistered");
        var registered = Host.Outcomes.Registered[job];
        Assert.Equal(1, registered.Version);
        Assert.Equal(Host.Store.GetUri(ArtifactKeys.RegistryVersion(model, 1)), registered.ModelUri);

        // The published folder verifies against its manifest, and ModelRolledOut names its hash.
        var manifestKey = ArtifactKeys.PublishedModel(model) + ModelManifest.FileName;
        await using (var stream = await Host.Store.OpenReadAsync(manifestKey))
        {
            using var buffer = new MemoryStream();
            await stream.CopyToAsync(buffer);
            Assert.Equal(rolled.ManifestSha256, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(buffer.ToArray())));
            var manifest = ModelManifest.Parse(buffer.ToArray());
            Assert.Equal("1", manifest.Version);
            Assert.Equal(["model.json", "weights/part-0.bin"], manifest.Artifacts.Select(a => a.Path));
            await manifest.VerifyFilesAsync((path, ct) => Host.Store.OpenReadAsync(ArtifactKeys.PublishedModel(model) + path, ct));
        }

        var status = await Host.RequestAsync<GetActiveDeployment, ActiveDeployment>(new GetActiveDeployment { ModelName = model });
        Assert.True(status.Deployment!.Healthy);
        Assert.Equal(1, status.Deployment.Version);
        Assert.Equal("production", status.Deployment.Alias);
    }

    [Fact]
    public async Task The_stable_endpoint_runs_as_its_own_process_and_a_dead_one_is_restarted_with_the_routes()
    {
        const string model = "edge-restart";
        await RegisterAsync(model, 1);
        RolledOut(await Host.RollAsync(model, "1"));
        var endpoint = Host.Services.GetRequiredService<RouteIQ.Rollout.Serving.StableEndpointHost>();
        Assert.Equal(RouteIQ.Rollout.Serving.StableEndpointMode.Process, endpoint.Mode);
        var pid = Assert.Single(EdgeProcesses.For(Host.PublicUrl));
        Assert.Equal(pid, endpoint.EdgeProcessId);
        Assert.Equal(1, await Host.InvokeAsync(model));

        using (var edge = Process.GetProcessById(pid))
        {
            edge.Kill();
        }

        await TestInfra.WaitUntilAsync(async () =>
        {
            try
            {
                return EdgeProcesses.For(Host.PublicUrl) is [var replacement] && replacement != pid && await Host.InvokeAsync(model) == 1;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(30), "a new stable endpoint process serving the model's route");
        Assert.NotNull(endpoint.BoundAddress);
    }

    [Fact]
    public async Task A_dead_active_server_is_replaced_from_the_same_version()
    {
        const string model = "self-healing";
        await RegisterAsync(model, 1);
        RolledOut(await Host.RollAsync(model, "1"));
        var port = Assert.Single(ServingProcesses.Ports(model));

        ServingProcesses.Kill(model, port);

        await TestInfra.WaitUntilAsync(() => Task.FromResult(ServingProcesses.Ports(model) is { Count: 1 } ports && !ports.Contains(port)),
            TimeSpan.FromSeconds(60), "a replacement server");
        await TestInfra.WaitUntilAsync(async () =>
        {
            var status = await Host.RequestAsync<GetActiveDeployment, ActiveDeployment>(new GetActiveDeployment { ModelName = model });
            return status.Deployment is { Healthy: true, Version: 1 } d && !d.ServerUrl!.EndsWith($":{port}");
        }, TimeSpan.FromSeconds(30), "the deployment to record its new server");
        // The reconciler records the new server, then points the stable endpoint's route at it: a moment apart.
        await TestInfra.WaitUntilAsync(async () =>
        {
            try
            {
                return await Host.InvokeAsync(model) == 1;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(10), "the stable endpoint to route to the new server");
        Assert.Equal(1, await Host.InvokeAsync(model));
    }
}
