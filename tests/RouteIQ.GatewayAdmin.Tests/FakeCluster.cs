using System.Collections.Concurrent;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using RouteIQ.Contracts;
using RouteIQ.ServiceDefaults;

namespace RouteIQ.GatewayAdmin.Tests;

/// <summary>
/// Test consumers that play the trainer-runner and rollout for ledger-level tests (the real
/// ones are exercised end to end in <see cref="EndToEndTests"/>). What a fake trainer does is
/// chosen by its <c>FAKE</c> environment variable: <c>ok</c>, <c>fail</c>, <c>hang</c>,
/// <c>silent-once</c> (starts, then never reports, on attempt 1), <c>handback-once</c>,
/// <c>handback-silent</c> (hands back attempt 1, goes silent on attempt 2).
/// </summary>
public sealed class FakeCluster
{
    public ConcurrentQueue<TrainRequested> Dispatched { get; } = new();
    public ConcurrentQueue<CancelTrain> Cancels { get; } = new();
    public ConcurrentQueue<RollRequested> Rolls { get; } = new();
    private int _version;

    public int NextVersion() => Interlocked.Increment(ref _version);

    public int DispatchCount(Guid jobId) => Dispatched.Count(d => d.JobId == jobId);

    /// <summary>Adds the fake runner (on the real cpu queue) and the fake rollout to a host.</summary>
    public static void AddTo(Microsoft.Extensions.Hosting.IHostApplicationBuilder builder, FakeCluster cluster, bool runner = true, bool rollout = true)
    {
        builder.Services.AddSingleton(cluster);
        builder.AddRouteIQConsumers(x =>
        {
            if (runner)
            {
                x.AddConsumer<FakeRunner>().Endpoint(e => e.Name = "trainer-runner.cpu");
                x.AddConsumer<FakeCancelListener>().Endpoint(e =>
                {
                    e.Name = $"fake-runner.cancel.{Guid.NewGuid():N}";
                    e.Temporary = true;
                });
            }
            if (rollout)
            {
                x.AddConsumer<FakeRollout>().Endpoint(e => e.Name = "fake-rollout");
                x.AddConsumer<FakeRegistry>().Endpoint(e => e.Name = "fake-rollout.registry");
            }
        });
    }
}

public sealed class FakeRunner(FakeCluster cluster, TimeProvider time) : IConsumer<TrainRequested>
{
    public async Task Consume(ConsumeContext<TrainRequested> context)
    {
        var m = context.Message;
        cluster.Dispatched.Enqueue(m);
        var mode = m.Environment.GetValueOrDefault("FAKE", "ok");
        var node = $"fake-node-{m.Attempt}";
        var workload = $"routeiq-train-{m.JobId:N}-{m.Attempt}";
        await context.Publish(new TrainStarted { JobId = m.JobId, Trainer = m.Trainer, Node = node, WorkloadName = workload, Attempt = m.Attempt, StartedAt = time.GetUtcNow() });
        await context.Publish(new TrainHeartbeat { JobId = m.JobId, Node = node, WorkloadName = workload, Attempt = m.Attempt, LogTail = "epoch 1\n", Timestamp = time.GetUtcNow() });

        switch (mode)
        {
            case "hang":
            case "silent-once" when m.Attempt == 1:
            case "handback-silent" when m.Attempt == 2:
                return;
            case "handback-silent" when m.Attempt == 1:
            case "handback-once" when m.Attempt == 1:
                await context.Publish(new TrainFailed { JobId = m.JobId, Trainer = m.Trainer, Node = node, Attempt = m.Attempt, Reason = "runner shutting down", HandedBack = true, FailedAt = time.GetUtcNow() });
                return;
            case "fail":
                await context.Publish(new TrainFailed
                {
                    JobId = m.JobId, Trainer = m.Trainer, Node = node, WorkloadName = workload, Attempt = m.Attempt,
                    Reason = "exit 3", ExitCode = 3, LogsTail = new string('x', 2000) + "boom", DurationSeconds = 0.5, FailedAt = time.GetUtcNow(),
                });
                return;
        }

        await context.Publish(new TrainCompleted
        {
            JobId = m.JobId, Trainer = m.Trainer, Node = node, WorkloadName = workload, Attempt = m.Attempt, ModelName = m.ModelName,
            OutputUri = $"file:///tmp/runs/{m.JobId:N}/output/", Metrics = new Dictionary<string, double> { ["acc"] = 0.9 },
            ImageKey = m.ImageKey, ServeImage = m.ServeImage, RollOnSuccess = m.RollOnSuccess, Alias = m.Alias,
            WaitReadySeconds = m.WaitReadySeconds, DurationSeconds = 1.25, CompletedAt = time.GetUtcNow(),
        });
    }
}

public sealed class FakeCancelListener(FakeCluster cluster) : IConsumer<CancelTrain>
{
    public Task Consume(ConsumeContext<CancelTrain> context)
    {
        cluster.Cancels.Enqueue(context.Message);
        return Task.CompletedTask;
    }
}

/// <summary>Registers versions and rolls: model names containing <c>badroll</c> fail the roll with 503; ref 404 is unknown.</summary>
public sealed class FakeRollout(FakeCluster cluster, TimeProvider time) : IConsumer<TrainCompleted>, IConsumer<RollRequested>
{
    public async Task Consume(ConsumeContext<TrainCompleted> context)
    {
        var m = context.Message;
        var version = cluster.NextVersion();
        await context.Publish(new ModelVersionRegistered { JobId = m.JobId, ModelName = m.ModelName, Version = version, ModelUri = $"file:///tmp/registry/{m.ModelName}/{version}/", RegisteredAt = time.GetUtcNow() });
        if (!m.RollOnSuccess)
        {
            return;
        }
        if (m.ModelName.Contains("badroll", StringComparison.Ordinal))
        {
            await context.Publish(new RollFailed { JobId = m.JobId, TrainJobId = m.JobId, ModelName = m.ModelName, Reason = "candidate not healthy", StatusCode = 503, FailedAt = time.GetUtcNow() });
            return;
        }
        await context.Publish(RolledOut(m.JobId, m.JobId, m.ModelName, version, m.ServeImage));
    }

    public async Task Consume(ConsumeContext<RollRequested> context)
    {
        var m = context.Message;
        cluster.Rolls.Enqueue(m);
        if (m.Ref == "999")
        {
            return; // a roll that never ends (its candidate never becomes ready)
        }
        if (m.Ref == "404")
        {
            await context.Publish(new RollFailed { JobId = m.JobId, ModelName = m.ModelName, Ref = m.Ref, Reason = "model version not found", StatusCode = 404, FailedAt = time.GetUtcNow() });
            return;
        }
        if (m.IsRollback && m.ModelName == "never-deployed")
        {
            await context.Publish(new RollFailed { JobId = m.JobId, ModelName = m.ModelName, Reason = "no previous deployment recorded for rollback", StatusCode = 409, IsRollback = true, FailedAt = time.GetUtcNow() });
            return;
        }
        var version = int.TryParse(m.Ref, out var v) ? v : 1;
        await context.Publish(RolledOut(m.JobId, null, m.ModelName ?? "default-model", version, m.ServeImage) with { IsRollback = m.IsRollback });
    }

    private ModelRolledOut RolledOut(Guid jobId, Guid? trainJobId, string model, int version, string? serveImage) => new()
    {
        JobId = jobId, TrainJobId = trainJobId, ModelName = model, Version = version, Alias = "production",
        ModelUri = $"file:///tmp/registry/{model}/{version}/", ManifestUri = $"file:///tmp/models/{model}/manifest.json", ManifestSha256 = new string('0', 64),
        PublicUrl = "http://127.0.0.1:9/stable", ServerUrl = "http://127.0.0.1:9/candidate", ServeImage = serveImage, DeploymentId = Guid.NewGuid(),
        RolledOutAt = time.GetUtcNow(),
    };
}

public sealed class FakeRegistry(TimeProvider time) : IConsumer<GetActiveDeployment>, IConsumer<GetDeploymentHistory>
{
    private DeploymentInfo Info(int version, bool active) => new()
    {
        DeploymentId = Guid.NewGuid(), ModelName = "knn-router", Version = version, Alias = "production", Active = active,
        ModelUri = $"file:///tmp/registry/knn-router/{version}/", ServerUrl = null, PublicUrl = "http://127.0.0.1:9/stable",
        Healthy = true, DeployedAt = time.GetUtcNow(), PreviousVersion = version > 1 ? version - 1 : null,
    };

    public Task Consume(ConsumeContext<GetActiveDeployment> context)
        => context.RespondAsync(context.Message.ModelName == "none" ? new ActiveDeployment() : new ActiveDeployment { Deployment = Info(2, true) });

    public Task Consume(ConsumeContext<GetDeploymentHistory> context)
        => context.RespondAsync(new DeploymentHistory { Deployments = [Info(2, true), Info(1, false)] });
}
