using System.Text.Json.Nodes;
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
        await ledger.ApplyAsync(m.JobId, (job, db, now) =>
        {
            duplicateOn = null;
            if (m.Attempt < job.Attempt || job.Phase != JobPhases.Training)
            {
                return false;
            }
            if (JobStates.IsTerminal(job.State))
            {
                if (job.State == JobStates.Cancelled)
                {
                    // Started after it was cancelled: stop it there.
                    db.Outbox.Add(OutboxMessages.Publish(job.Id, new CancelTrain { JobId = job.Id, Node = m.Node, Attempt = m.Attempt, Reason = "job was cancelled", RequestedAt = now }, now));
                    return true;
                }
                return false;
            }
            if (job.State == JobStates.Running && job.Attempt == m.Attempt && job.Node is { } node && node != m.Node)
            {
                duplicateOn = m.Node;
                db.Outbox.Add(OutboxMessages.Publish(job.Id, new CancelTrain { JobId = job.Id, Node = m.Node, Attempt = m.Attempt, Reason = "duplicate start of an attempt already running elsewhere", RequestedAt = now }, now));
                return true;
            }
            job.Attempt = m.Attempt;
            job.State = JobStates.Running;
            job.StartedAt ??= m.StartedAt;
            job.LastHeartbeatAt = m.StartedAt > (job.LastHeartbeatAt ?? DateTimeOffset.MinValue) ? m.StartedAt : job.LastHeartbeatAt;
            job.Node = m.Node;
            job.WorkloadName = m.WorkloadName;
            return true;
        }, context.CancellationToken);
        if (duplicateOn is not null)
        {
            logger.LogWarning("Job {JobId} attempt {Attempt} started twice; stopping the copy on {Node}", m.JobId, m.Attempt, duplicateOn);
        }
    }
}

public sealed class TrainHeartbeatConsumer(JobLedger ledger) : IConsumer<TrainHeartbeat>
{
    public Task Consume(ConsumeContext<TrainHeartbeat> context)
    {
        var m = context.Message;
        return ledger.ApplyAsync(m.JobId, (job, _, _) =>
        {
            if (m.Attempt != job.Attempt || job.Phase != JobPhases.Training || JobStates.IsTerminal(job.State))
            {
                return false;
            }
            if (job.LastHeartbeatAt is { } last && last > m.Timestamp)
            {
                return false;
            }
            job.State = JobStates.Running;
            job.LastHeartbeatAt = m.Timestamp;
            job.Node ??= m.Node;
            job.WorkloadName ??= m.WorkloadName;
            if (m.LogTail is not null)
            {
                job.LogTail = m.LogTail;
            }
            return true;
        }, context.CancellationToken);
    }
}

public sealed class TrainCompletedConsumer(JobLedger ledger) : IConsumer<TrainCompleted>
{
    public Task Consume(ConsumeContext<TrainCompleted> context)
    {
        var m = context.Message;
        return ledger.ApplyAsync(m.JobId, (job, _, now) =>
        {
            if (job.Kind != JobKinds.Train || m.Attempt < job.Attempt || job.TrainResultJson is not null || JobStates.IsTerminal(job.State))
            {
                return false;
            }
            var resolved = LedgerJson.Parse(job.ResolvedJson);
            var registered = LedgerJson.Parse(job.RollResultJson);
            var result = new JsonObject
            {
                ["job_id"] = job.Id,
                ["trainer"] = m.Trainer,
                ["container"] = m.WorkloadName,
                ["run_id"] = m.RunId,
                ["registered_model"] = m.ModelName,
                ["version"] = registered?["version"]?.DeepClone(),
                ["model_uri"] = registered?["model_uri"]?.DeepClone() ?? m.OutputUri,
                ["metrics"] = JsonValueOf(m.Metrics),
                ["image_key"] = m.ImageKey,
                ["serve_image"] = m.ServeImage ?? resolved?["serve_image"]?.DeepClone(),
                ["parameters"] = resolved?["parameters"]?.DeepClone() ?? new JsonObject(),
                ["logs_tail"] = null,
                ["duration_seconds"] = Math.Round(m.DurationSeconds, 3),
            };
            job.TrainResultJson = result.ToJsonString();
            job.Node = m.Node;
            job.WorkloadName = m.WorkloadName;
            job.LogsUri = m.LogsUri;
            job.StartedAt ??= m.CompletedAt.AddSeconds(-m.DurationSeconds);
            if (job.RollOnSuccess)
            {
                job.Phase = JobPhases.Rolling;
                JobOutcome.Settle(job, now);
            }
            else
            {
                job.State = JobStates.Succeeded;
                job.FinishedAt = now;
            }
            return true;
        }, context.CancellationToken);
    }

    private static JsonObject JsonValueOf(IReadOnlyDictionary<string, double> metrics)
    {
        var o = new JsonObject();
        foreach (var (k, v) in metrics)
        {
            o[k] = double.IsFinite(v) ? v : null;
        }
        return o;
    }
}

public sealed class TrainFailedConsumer(JobLedger ledger, ILogger<TrainFailedConsumer> logger) : IConsumer<TrainFailed>
{
    public Task Consume(ConsumeContext<TrainFailed> context)
    {
        var m = context.Message;
        return ledger.ApplyAsync(m.JobId, (job, db, now) =>
        {
            if (m.Attempt != job.Attempt || job.Phase != JobPhases.Training || JobStates.IsTerminal(job.State))
            {
                return false;
            }
            if (m.HandedBack)
            {
                logger.LogInformation("Job {JobId} handed back by {Node}; dispatching it again", job.Id, m.Node);
                job.HandBacks++;
                JobRedispatch.Requeue(job, db, now);
                return true;
            }
            job.FinishedAt = now;
            job.LogTail = m.LogsTail ?? job.LogTail;
            job.LogsUri = m.LogsUri ?? job.LogsUri;
            if (m.Cancelled)
            {
                job.State = JobStates.Cancelled;
                job.StatusCode ??= 409;
                job.ErrorJson ??= new JsonObject { ["error"] = "job cancelled", ["job_id"] = job.Id, ["reason"] = m.Reason }.ToJsonString();
                return true;
            }
            var exit = m.ExitCode ?? (m.TimedOut ? 124 : null);
            var resolved = LedgerJson.Parse(job.ResolvedJson);
            var error = new JsonObject
            {
                ["error"] = exit is { } code ? $"trainer failed (exit={code})" : $"trainer failed ({m.Reason})",
                ["reason"] = m.Reason,
                ["job_id"] = job.Id,
                ["trainer"] = m.Trainer,
                ["container"] = m.WorkloadName,
                ["run_id"] = m.RunId,
                ["registered_model"] = job.ModelName,
                ["version"] = null,
                ["model_uri"] = null,
                ["metrics"] = new JsonObject(),
                ["image_key"] = resolved?["image_key"]?.DeepClone(),
                ["serve_image"] = resolved?["serve_image"]?.DeepClone(),
                ["parameters"] = resolved?["parameters"]?.DeepClone() ?? new JsonObject(),
                ["exit_code"] = exit,
                ["timed_out"] = m.TimedOut,
                ["logs_tail"] = Tail(m.LogsTail),
                ["duration_seconds"] = Math.Round(m.DurationSeconds, 3),
            };
            job.State = JobStates.Failed;
            job.StatusCode = 500;
            job.ErrorJson = error.ToJsonString();
            return true;
        }, context.CancellationToken);
    }

    internal static string? Tail(string? log) => log is { Length: > 1200 } ? log[^1200..] : log;
}

public sealed class ModelVersionRegisteredConsumer(JobLedger ledger) : IConsumer<ModelVersionRegistered>
{
    public Task Consume(ConsumeContext<ModelVersionRegistered> context)
    {
        var m = context.Message;
        return ledger.ApplyAsync(m.JobId, (job, _, now) =>
        {
            if (job.Kind != JobKinds.Train)
            {
                return false;
            }
            var train = LedgerJson.Parse(job.TrainResultJson);
            if (train is null)
            {
                if (JobStates.IsTerminal(job.State))
                {
                    return false;
                }
                // Registered before this replica applied TrainCompleted: the retry policy tries again shortly.
                throw new JobNotReadyException(job.Id);
            }
            if (train["version"] is not null)
            {
                return false;
            }
            train["version"] = m.Version;
            train["model_uri"] = m.ModelUri;
            train["registered_model"] = m.ModelName;
            train["run_id"] ??= m.RunId;
            job.TrainResultJson = train.ToJsonString();
            JobOutcome.Settle(job, now);
            return true;
        }, context.CancellationToken);
    }
}

public sealed class ModelRolledOutConsumer(JobLedger ledger) : IConsumer<ModelRolledOut>
{
    public async Task Consume(ConsumeContext<ModelRolledOut> context)
    {
        var m = context.Message;
        var roll = new JsonObject
        {
            ["active"] = true,
            ["url"] = m.ServerUrl,
            ["public_url"] = m.PublicUrl,
            ["name"] = m.ModelName,
            ["version"] = m.Version,
            ["alias"] = m.Alias,
            ["model_uri"] = m.ModelUri,
            ["serve_image"] = m.ServeImage,
            ["manifest_uri"] = m.ManifestUri,
            ["deployment_id"] = m.DeploymentId,
            ["previous_version"] = m.PreviousVersion,
            ["is_rollback"] = m.IsRollback,
        };
        await ledger.ApplyAsync(m.TrainJobId ?? m.JobId, (job, _, now) =>
        {
            if (JobStates.IsTerminal(job.State) || (job.Kind == JobKinds.Train && !job.RollOnSuccess))
            {
                return false;
            }
            if (job.RollResultJson is { } existing && LedgerJson.Parse(existing)?["active"] is not null)
            {
                return false;
            }
            job.RollResultJson = roll.ToJsonString();
            if (job.Kind == JobKinds.Train)
            {
                var train = LedgerJson.Parse(job.TrainResultJson);
                if (train is not null)
                {
                    train["version"] = m.Version;
                    train["registered_model"] = m.ModelName;
                    job.TrainResultJson = train.ToJsonString();
                }
            }
            else
            {
                job.StartedAt ??= job.CreatedAt;
            }
            JobOutcome.Settle(job, now);
            return true;
        }, context.CancellationToken);
    }
}

public sealed class RollFailedConsumer(JobLedger ledger) : IConsumer<RollFailed>
{
    public Task Consume(ConsumeContext<RollFailed> context)
    {
        var m = context.Message;
        return ledger.ApplyAsync(m.TrainJobId ?? m.JobId, (job, _, now) =>
        {
            if (JobStates.IsTerminal(job.State) || job.ErrorJson is not null || (job.Kind == JobKinds.Train && !job.RollOnSuccess))
            {
                return false;
            }
            job.StatusCode = m.StatusCode is >= 400 and <= 599 ? m.StatusCode : 500;
            job.ErrorJson = new JsonObject
            {
                ["error"] = m.Reason,
                ["name"] = m.ModelName,
                ["ref"] = m.Ref,
                ["version"] = m.Version,
                ["is_rollback"] = m.IsRollback,
            }.ToJsonString();
            JobOutcome.Settle(job, now);
            return true;
        }, context.CancellationToken);
    }
}

/// <summary>When a job's outcome is complete: a roll job on its roll; a train-and-roll job on both its phases.</summary>
internal static class JobOutcome
{
    public static void Settle(Job job, DateTimeOffset now)
    {
        var trained = job.Kind != JobKinds.Train || job.TrainResultJson is not null;
        var rolled = LedgerJson.Parse(job.RollResultJson)?["active"] is not null;
        if (!trained)
        {
            return;
        }
        if (job.ErrorJson is not null && job.State != JobStates.Failed)
        {
            job.State = JobStates.Failed;
            job.FinishedAt = now;
        }
        else if (job.ErrorJson is null && (rolled || !job.RollOnSuccess && job.Kind == JobKinds.Train))
        {
            job.State = JobStates.Succeeded;
            job.FinishedAt ??= now;
        }
        else if (job.State == JobStates.Queued)
        {
            job.State = JobStates.Running;
        }
    }
}

internal static class JobRedispatch
{
    /// <summary>A new attempt of the job's last dispatch, through the outbox.</summary>
    public static void Requeue(Job job, LedgerDbContext db, DateTimeOffset now)
    {
        var previous = System.Text.Json.JsonSerializer.Deserialize<TrainRequested>(job.DispatchJson!, LedgerJson.Messages)!;
        job.Attempt++;
        var message = previous with { Attempt = job.Attempt, RequestedAt = now };
        job.DispatchJson = System.Text.Json.JsonSerializer.Serialize(message, LedgerJson.Messages);
        job.Node = null;
        job.WorkloadName = null;
        job.LastHeartbeatAt = null;
        db.Outbox.Add(OutboxMessages.Send(message, now, job.DispatchJson));
    }
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

/// <summary>An event arrived before the one it follows; retried.</summary>
public sealed class JobNotReadyException(Guid jobId) : Exception($"job {jobId} has not reached the state this event follows yet");
