using MassTransit;
using Microsoft.EntityFrameworkCore;
using RouteIQ.Contracts;

namespace RouteIQ.GatewayAdmin.Ledger;

/// <summary>
/// Applies the runners' and rollout's events to the ledger. Idempotent: events of an older
/// attempt, and events after the job ended, change nothing.
/// </summary>
public sealed class TrainStartedConsumer(JobLedger ledger, ILogger<TrainStartedConsumer> logger) : IConsumer<TrainStarted>
{
    public async Task Consume(ConsumeContext<TrainStarted> context)
    {
        var m = context.Message;
        string? duplicateOn = null;
        await ledger.ApplyAsync(m.JobId, (job, db, now) => JobLifecycle.Started(job, m, db, now, out duplicateOn), context.CancellationToken);
        if (duplicateOn is not null)
        {
            logger.LogWarning("Job {JobId} attempt {Attempt} started twice; stopping the copy on {Node}", m.JobId, m.Attempt, duplicateOn);
        }
    }
}

public sealed class TrainHeartbeatConsumer(JobLedger ledger) : IConsumer<TrainHeartbeat>
{
    public Task Consume(ConsumeContext<TrainHeartbeat> context)
        => ledger.ApplyAsync(context.Message.JobId, (job, _, _) => JobLifecycle.Heartbeat(job, context.Message), context.CancellationToken);
}

public sealed class TrainCompletedConsumer(JobLedger ledger) : IConsumer<TrainCompleted>
{
    public Task Consume(ConsumeContext<TrainCompleted> context)
        => ledger.ApplyAsync(context.Message.JobId, (job, _, now) => JobLifecycle.TrainingCompleted(job, context.Message, now), context.CancellationToken);
}

public sealed class TrainFailedConsumer(JobLedger ledger, ILogger<TrainFailedConsumer> logger) : IConsumer<TrainFailed>
{
    public async Task Consume(ConsumeContext<TrainFailed> context)
    {
        var m = context.Message;
        var job = await ledger.ApplyAsync(m.JobId, (job, db, now) => JobLifecycle.TrainingFailed(job, m, db, now), context.CancellationToken);
        if (m.HandedBack && job?.Attempt > m.Attempt)
        {
            logger.LogInformation("Job {JobId} handed back by {Node}; dispatching it again", m.JobId, m.Node);
        }
    }
}

public sealed class ModelVersionRegisteredConsumer(JobLedger ledger) : IConsumer<ModelVersionRegistered>
{
    public Task Consume(ConsumeContext<ModelVersionRegistered> context)
        => ledger.ApplyAsync(context.Message.JobId, (job, _, now) => JobLifecycle.VersionRegistered(job, context.Message, now), context.CancellationToken);
}

public sealed class ModelRolledOutConsumer(JobLedger ledger) : IConsumer<ModelRolledOut>
{
    public Task Consume(ConsumeContext<ModelRolledOut> context)
    {
        var m = context.Message;
        var roll = new RollResult
        {
            Active = true,
            Url = m.ServerUrl,
            PublicUrl = m.PublicUrl,
            Name = m.ModelName,
            Version = m.Version,
            Alias = m.Alias,
            ModelUri = m.ModelUri,
            ServeImage = m.ServeImage,
            ManifestUri = m.ManifestUri,
            DeploymentId = m.DeploymentId,
            PreviousVersion = m.PreviousVersion,
            IsRollback = m.IsRollback,
        };
        return ledger.ApplyAsync(m.TrainJobId ?? m.JobId, (job, _, now) => JobLifecycle.RolledOut(job, roll, now), context.CancellationToken);
    }
}

public sealed class RollFailedConsumer(JobLedger ledger) : IConsumer<RollFailed>
{
    public Task Consume(ConsumeContext<RollFailed> context)
        => ledger.ApplyAsync(context.Message.TrainJobId ?? context.Message.JobId, (job, _, now) => JobLifecycle.RollFailed(job, context.Message, now),
            context.CancellationToken);
}

/// <summary>The ledger's consumer endpoints: <c>gateway-admin.&lt;event&gt;</c>, retried on a concurrent update.</summary>
public class LedgerConsumerDefinition<TConsumer> : ConsumerDefinition<TConsumer> where TConsumer : class, IConsumer
{
    protected LedgerConsumerDefinition(string eventName)
    {
        EndpointName = $"gateway-admin.{eventName}";
        ConcurrentMessageLimit = 32;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator, IConsumerConfigurator<TConsumer> consumerConfigurator, IRegistrationContext context)
    {
        endpointConfigurator.UseMessageRetry(r =>
        {
            r.Handle<DbUpdateException>();
            r.Handle<JobNotReadyException>();
            r.Handle<TimeoutException>();
            r.Handle<Npgsql.NpgsqlException>();
            r.Handle<Microsoft.Data.Sqlite.SqliteException>();
            r.Intervals(100, 500, 1000, 2000, 5000);
        });
    }
}

public sealed class TrainStartedConsumerDefinition() : LedgerConsumerDefinition<TrainStartedConsumer>("train-started");
public sealed class TrainHeartbeatConsumerDefinition() : LedgerConsumerDefinition<TrainHeartbeatConsumer>("train-heartbeat");
public sealed class TrainCompletedConsumerDefinition() : LedgerConsumerDefinition<TrainCompletedConsumer>("train-completed");
public sealed class TrainFailedConsumerDefinition() : LedgerConsumerDefinition<TrainFailedConsumer>("train-failed");
public sealed class ModelVersionRegisteredConsumerDefinition() : LedgerConsumerDefinition<ModelVersionRegisteredConsumer>("model-version-registered");
public sealed class ModelRolledOutConsumerDefinition() : LedgerConsumerDefinition<ModelRolledOutConsumer>("model-rolled-out");
public sealed class RollFailedConsumerDefinition() : LedgerConsumerDefinition<RollFailedConsumer>("roll-failed");
