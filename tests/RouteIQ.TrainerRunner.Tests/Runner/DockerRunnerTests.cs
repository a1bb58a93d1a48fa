using System.Net.Http.Json;
using System.Text;
using Docker.DotNet;
using Microsoft.Extensions.DependencyInjection;
using RouteIQ.Artifacts;
using RouteIQ.Contracts;
using RouteIQ.Testing;
using RouteIQ.Workloads;

namespace RouteIQ.TrainerRunner.Tests.Runner;

/// <summary>One runner on Docker Engine with artifacts in the S3 server, driven over RabbitMQ the way gateway-admin drives it.</summary>
[Trait("Category", "Integration")]
public sealed class DockerRunnerTests(DockerRunnerFixture fixture) : IClassFixture<DockerRunnerFixture>, IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);
    private readonly DockerClient _docker = TestDocker.CreateClient();
    private readonly BusProbe _probe = fixture.Probe;
    private readonly RunnerHost _runner = fixture.Runner;

    private IArtifactStore Store => _runner.App.Services.GetRequiredService<IArtifactStore>();

    public void Dispose() => _docker.Dispose();

    private Task<bool> ContainerExistsAsync(string name) => _docker.ContainerExistsAsync(name);

    private async Task<string> ReadAsync(string key)
    {
        await using var stream = await Store.OpenReadAsync(key);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return await reader.ReadToEndAsync();
    }

    [Fact]
    public async Task A_dataset_of_the_runners_store_reaches_the_container_read_only_without_store_credentials()
    {
        var id = $"staged-{Guid.NewGuid():N}"[..20];
        var key = ArtifactKeys.Dataset(id);
        await Store.PutAsync(key + "routing_train.jsonl", new MemoryStream(Encoding.UTF8.GetBytes("{\"query\":\"q\"}\n")));
        await Store.PutAsync(key + "llm_data.json", new MemoryStream(Encoding.UTF8.GetBytes("{}")));
        var request = BusProbe.Job(
            "env > /output/env.txt; ls /input > /output/files.txt; cat /input/routing_train.jsonl > /output/train.txt; " +
            "touch /input/x 2>/dev/null && echo writable > /output/writable.txt; true",
            b => b.DatasetUri = Store.GetUri(key));

        await _probe.SendAsync(request);
        await _probe.WaitForAsync<TrainCompleted>(c => c.JobId == request.JobId, Wait);

        var output = ArtifactKeys.RunOutput(request.JobId);
        Assert.Equal("llm_data.json\nrouting_train.jsonl\n", await ReadAsync(output + "files.txt"));
        Assert.Equal("{\"query\":\"q\"}\n", await ReadAsync(output + "train.txt"));
        Assert.False(await Store.ExistsAsync(output + "writable.txt"), "the dataset must be mounted read-only");
        var env = await ReadAsync(output + "env.txt");
        Assert.Contains("ROUTEIQ_DATASET_URI=/input/\n", env);
        Assert.DoesNotContain("AWS_", env);
        // The staged copy goes with the job.
        await TestInfra.WaitUntilAsync(() => Task.FromResult(!Directory.EnumerateDirectories(Path.Combine(_runner.DataDir, "runner"), $"{request.JobId:N}-*-input", SearchOption.AllDirectories).Any()),
            Wait, "the staged dataset to be deleted with the job");
    }

    [Fact]
    public async Task A_trainer_that_writes_a_model_and_metrics_completes_with_its_artifacts()
    {
        var request = BusProbe.Job(
            "echo training; sleep 2; mkdir -p /output/weights; echo w > /output/weights/layer0.bin; echo model > /output/model.json; " +
            "echo '{\"acc\": 0.9, \"loss\": 0.25, \"note\": \"text ignored\"}' > /output/metrics.json; echo done",
            b => b.Parameters["REGISTERED_MODEL_NAME"] = "knn-router-eu");

        await _probe.SendAsync(request);

        var started = await _probe.WaitForAsync<TrainStarted>(s => s.JobId == request.JobId, Wait);
        Assert.Equal(_runner.Node, started.Node);
        Assert.Equal($"routeiq-train-knn-{TrainJobs.ShortId(request.JobId)}", started.WorkloadName);
        var inspect = await _docker.Containers.InspectContainerAsync(started.WorkloadName);
        Assert.Equal(request.JobId.ToString(), inspect.Config.Labels[WorkloadLabels.JobId]);
        Assert.Equal("knn", inspect.Config.Labels[WorkloadLabels.Trainer]);
        Assert.Equal(_runner.Node, inspect.Config.Labels[WorkloadLabels.Node]);
        Assert.Equal("host", inspect.HostConfig.NetworkMode);

        var heartbeat = await _probe.WaitForAsync<TrainHeartbeat>(h => h.JobId == request.JobId, Wait);
        Assert.Equal(started.WorkloadName, heartbeat.WorkloadName);
        Assert.Contains("training", heartbeat.LogTail);

        var completed = await _probe.WaitForAsync<TrainCompleted>(c => c.JobId == request.JobId, Wait);
        Assert.False(await ContainerExistsAsync(started.WorkloadName), "the container must be removed");
        Assert.Equal("knn-router-eu", completed.ModelName);
        Assert.Equal(_runner.Node, completed.Node);
        Assert.Equal(1, completed.Attempt);
        Assert.Equal(new Dictionary<string, double> { ["acc"] = 0.9, ["loss"] = 0.25 }, completed.Metrics);
        Assert.Equal(["metrics.json", "model.json", "weights/layer0.bin"], completed.Files.Select(f => f.Path));
        Assert.Equal(Store.GetUri(ArtifactKeys.RunOutput(request.JobId)), completed.OutputUri);
        Assert.Equal("model\n", await ReadAsync(ArtifactKeys.RunOutput(request.JobId) + "model.json"));
        Assert.Equal("w\n", await ReadAsync(ArtifactKeys.RunOutput(request.JobId) + "weights/layer0.bin"));
        Assert.Equal("training\ndone\n", await ReadAsync(ArtifactKeys.RunLogs(request.JobId)));
        Assert.Equal(Store.GetUri(ArtifactKeys.RunLogs(request.JobId)), completed.LogsUri);
        // What rollout needs is carried through.
        Assert.True(completed.RollOnSuccess);
        Assert.Equal("staging", completed.Alias);
        Assert.Equal("routeiq/router-server:1", completed.ServeImage);
        Assert.Equal("fast", completed.ImageKey);
        Assert.Equal(33, completed.WaitReadySeconds);
        Assert.True(completed.DurationSeconds >= 2);
        // The per-job output directory is cleaned up.
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(_runner.DataDir, "runner"), "*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task The_container_sees_exactly_the_resolved_environment()
    {
        // (A request parameter naming a runner-owned variable is refused: RunnerOwnedVariablesTests.)
        var request = BusProbe.Job("env > /output/env.txt; echo m > /output/model.bin", b =>
        {
            b.Environment["SPEC_ONLY"] = "1";
            b.Environment["OVERRIDDEN"] = "spec";
            b.Environment["REMOVED"] = "spec";
            b.Environment["ROUTEIQ_JOB_ID"] = "spoofed";
            b.Parameters["OVERRIDDEN"] = "param";
            b.Parameters["REMOVED"] = null;
            b.Parameters["JSON_PARAM"] = "{\"k\":[1,2]}";
            b.DatasetUri = "s3://routeiq/datasets/d1/";
        });

        await _probe.SendAsync(request);
        await _probe.WaitForAsync<TrainCompleted>(c => c.JobId == request.JobId, Wait);

        var seen = (await ReadAsync(ArtifactKeys.RunOutput(request.JobId) + "env.txt"))
            .Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
        var expected = new Dictionary<string, string>
        {
            ["SPEC_ONLY"] = "1",
            ["OVERRIDDEN"] = "param",
            ["JSON_PARAM"] = "{\"k\":[1,2]}",
            ["ROUTEIQ_JOB_ID"] = request.JobId.ToString(),
            ["ROUTEIQ_OUTPUT_DIR"] = "/output",
            ["ROUTEIQ_DATASET_URI"] = "s3://routeiq/datasets/d1/",
        };
        // Besides what the runner resolved, only what the image and the shell set themselves.
        var imageOwn = new HashSet<string> { "PATH", "HOSTNAME", "HOME", "PWD", "SHLVL", "_" };
        Assert.Equal(expected, seen.Where(kv => !imageOwn.Contains(kv.Key)).ToDictionary());
    }

    [Fact]
    public async Task A_failing_trainer_reports_its_exit_code_and_the_last_1200_characters_of_its_log()
    {
        var request = BusProbe.Job(
            // Docker keeps stdout and stderr in separate pipes: their order within a few
            // milliseconds is not preserved, hence the pause before the final error.
            "i=0; while [ $i -lt 200 ]; do echo \"epoch $i loss 0.5\"; i=$((i+1)); done; sleep 0.5; echo 'CUDA error: out of memory' >&2; exit 3");

        await _probe.SendAsync(request);

        var failed = await _probe.WaitForAsync<TrainFailed>(f => f.JobId == request.JobId, Wait);
        Assert.Equal(3, failed.ExitCode);
        Assert.False(failed.TimedOut);
        Assert.False(failed.Cancelled);
        Assert.Equal("trainer failed (exit=3)", failed.Reason);
        Assert.Equal(1200, failed.LogsTail!.Length);
        Assert.EndsWith("CUDA error: out of memory\n", failed.LogsTail);
        Assert.StartsWith("epoch 0 loss", await ReadAsync(ArtifactKeys.RunLogs(request.JobId)));
        Assert.False(await ContainerExistsAsync(failed.WorkloadName!));
    }

    [Fact]
    public async Task A_trainer_past_its_timeout_fails_with_exit_124_and_leaves_no_container()
    {
        var request = BusProbe.Job("echo started; sleep 120", b => b.TimeoutSeconds = 2);

        await _probe.SendAsync(request);

        var failed = await _probe.WaitForAsync<TrainFailed>(f => f.JobId == request.JobId, Wait);
        Assert.True(failed.TimedOut);
        Assert.Equal(124, failed.ExitCode);
        Assert.Contains("timed out after 2 s", failed.Reason);
        Assert.Contains("started", failed.LogsTail);
        Assert.False(await ContainerExistsAsync(failed.WorkloadName!));
    }

    [Fact]
    public async Task Cancelling_a_running_job_removes_its_container_and_ends_it_cancelled()
    {
        var request = BusProbe.Job("echo running; sleep 120");
        await _probe.SendAsync(request);
        var started = await _probe.WaitForAsync<TrainStarted>(s => s.JobId == request.JobId, Wait);
        Assert.True(await ContainerExistsAsync(started.WorkloadName));

        await _probe.PublishAsync(new CancelTrain { JobId = request.JobId, Reason = "user asked", RequestedAt = DateTimeOffset.UtcNow });

        var failed = await _probe.WaitForAsync<TrainFailed>(f => f.JobId == request.JobId, Wait);
        Assert.True(failed.Cancelled);
        Assert.Equal("cancelled", failed.Reason);
        Assert.False(await ContainerExistsAsync(started.WorkloadName));
        Assert.DoesNotContain(_probe.All<TrainCompleted>(), c => c.JobId == request.JobId);
    }

    [Fact]
    public async Task A_cancel_for_another_node_or_attempt_is_ignored()
    {
        var request = BusProbe.Job("echo m > /output/model.bin; sleep 3");
        await _probe.SendAsync(request);
        await _probe.WaitForAsync<TrainStarted>(s => s.JobId == request.JobId, Wait);

        await _probe.PublishAsync(new CancelTrain { JobId = request.JobId, Node = "some-other-node", RequestedAt = DateTimeOffset.UtcNow });
        await _probe.PublishAsync(new CancelTrain { JobId = request.JobId, Attempt = 2, RequestedAt = DateTimeOffset.UtcNow });

        var completed = await _probe.WaitForAsync<TrainCompleted>(c => c.JobId == request.JobId, Wait);
        Assert.Equal(["model.bin"], completed.Files.Select(f => f.Path));
    }

    [Fact]
    public async Task A_trainer_that_writes_no_model_fails_with_no_model_produced()
    {
        var request = BusProbe.Job("echo '{\"acc\":1}' > /output/metrics.json; mkdir /output/empty");

        await _probe.SendAsync(request);

        var failed = await _probe.WaitForAsync<TrainFailed>(f => f.JobId == request.JobId, Wait);
        Assert.Equal("no model produced", failed.Reason);
        Assert.Equal(0, failed.ExitCode);
    }

    [Fact]
    public async Task An_image_that_does_not_exist_fails_the_job_with_the_reason()
    {
        var request = BusProbe.Job("true", image: "routeiq/not-built-here:1");

        await _probe.SendAsync(request);

        var failed = await _probe.WaitForAsync<TrainFailed>(f => f.JobId == request.JobId, Wait);
        Assert.StartsWith("launch failed:", failed.Reason);
        Assert.Contains("routeiq/not-built-here:1", failed.Reason);
        Assert.DoesNotContain(_probe.All<TrainStarted>(), s => s.JobId == request.JobId);
    }

    [Fact]
    public async Task A_duplicated_request_runs_the_job_once()
    {
        var request = BusProbe.Job("echo m > /output/model.bin; sleep 1");

        await _probe.SendAsync(request);
        await _probe.SendAsync(request);
        await _probe.WaitForAsync<TrainCompleted>(c => c.JobId == request.JobId, Wait);
        // A redelivery after completion is ignored too.
        await _probe.SendAsync(request);
        var marker = BusProbe.Job("echo m > /output/model.bin");
        await _probe.SendAsync(marker);
        await _probe.WaitForAsync<TrainCompleted>(c => c.JobId == marker.JobId, Wait);

        Assert.Single(_probe.All<TrainStarted>(), s => s.JobId == request.JobId);
        Assert.Single(_probe.All<TrainCompleted>(), c => c.JobId == request.JobId);
    }

    [Fact]
    public async Task An_invalid_request_fails_naming_the_field()
    {
        var request = BusProbe.Job("true", b => b.TimeoutSeconds = 0);

        await _probe.SendAsync(request);

        var failed = await _probe.WaitForAsync<TrainFailed>(f => f.JobId == request.JobId, Wait);
        Assert.Contains("TimeoutSeconds", failed.Reason);
    }

    [Fact]
    public async Task The_status_page_shows_the_node_and_its_capacity()
    {
        using var http = new HttpClient();
        var status = await http.GetFromJsonAsync<System.Text.Json.JsonElement>($"{_runner.Url}/runner/status");

        Assert.Equal(_runner.Node, status.GetProperty("node").GetString());
        Assert.Equal("docker", status.GetProperty("launcher").GetString());
        Assert.Equal(3, status.GetProperty("slots").GetInt32());
        Assert.Equal(0, status.GetProperty("gpus").GetInt32());
    }
}

/// <summary>One runner node and the probe bus, shared by the tests of <see cref="DockerRunnerTests"/>.</summary>
[Trait("Category", "Integration")]
public sealed class DockerRunnerFixture : IAsyncLifetime
{
    public BusProbe Probe { get; private set; } = null!;
    public RunnerHost Runner { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        // The S3 store reads the standard AWS variables; the runner must never pass them on.
        Environment.SetEnvironmentVariable("AWS_ACCESS_KEY_ID", TestInfra.S3AccessKey);
        Environment.SetEnvironmentVariable("AWS_SECRET_ACCESS_KEY", TestInfra.S3SecretKey);
        var vhost = await TestInfra.CreateVirtualHostAsync("runner-docker");
        Probe = await BusProbe.StartAsync(vhost);
        Runner = await RunnerHost.StartAsync(vhost, $"docker-{Guid.NewGuid():N}"[..15], new Dictionary<string, string?>
        {
            ["RouteIQ:Runner:Slots"] = "3",
            ["RouteIQ:Artifacts:Uri"] = $"s3://{TestInfra.S3Bucket}/runner-tests-{Guid.NewGuid():N}",
            ["RouteIQ:Artifacts:ServiceUrl"] = TestInfra.S3Url,
        });
    }

    public async Task DisposeAsync()
    {
        await Runner.DisposeAsync();
        await Probe.DisposeAsync();
    }
}
