using RouteIQ.Artifacts;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using RouteIQ.Contracts;
using RouteIQ.GatewayAdmin.Specs;
using RouteIQ.ServiceDefaults;

namespace RouteIQ.GatewayAdmin.Ledger;

/// <summary>Wakes the outbox dispatcher when a row was written (coalesced: one pending wake at most).</summary>
public sealed class OutboxSignal
{
    private readonly Channel<bool> _channel = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    public void Pulse() => _channel.Writer.TryWrite(true);

    public async Task WaitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            await _channel.Reader.ReadAsync(cts.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
        }
    }
}

/// <summary>
/// The job ledger: creates jobs (job row + outbox row in one transaction) and applies the
/// other services' events to them. Every change is an optimistic-concurrency update, so two
/// replicas never both move one job; a committed state change is announced with
/// <see cref="JobStateChanged"/>.
/// </summary>
public sealed class JobLedger(
    IDbContextFactory<LedgerDbContext> contexts,
    JobWriter writer,
    OutboxSignal outboxSignal,
    JobWaiters waiters,
    IBus bus,
    IArtifactStore artifacts,
    TimeProvider time,
    IOptions<AdminOptions> adminOptions,
    ILogger<JobLedger> logger)
{
    public static readonly TimeSpan IdempotencyWindow = TimeSpan.FromHours(24);

    /// <summary>A dataset id (what <c>POST /admin/datasets</c> returns) names <c>datasets/{id}/</c> in the artifact store; a URI is used as it is.</summary>
    private string? DatasetUri(string? dataset)
        => string.IsNullOrWhiteSpace(dataset) || dataset.Contains("://", StringComparison.Ordinal) || dataset.StartsWith('/')
            ? dataset
            : artifacts.GetUri(ArtifactKeys.Dataset(dataset));

    public sealed record CreateResult(Job Job, bool Created);

    public async Task<CreateResult> CreateTrainJobAsync(ResolvedTrain resolved, JsonObject request, bool rollOnSuccess,
        string? alias, int waitReadySeconds, IdempotencyRequest? idempotency, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var job = new Job
        {
            Id = NewId.NextSequentialGuid(),
            Kind = JobKinds.Train,
            Trainer = resolved.Trainer,
            ModelName = resolved.ModelName,
            State = JobStates.Queued,
            Phase = JobPhases.Training,
            RollOnSuccess = rollOnSuccess,
            IdempotencyKey = idempotency?.Key,
            CreatedAt = now,
            RequestJson = request.ToJsonString(),
            ResolvedJson = WithFingerprint(LedgerJson.ToObject(Redacted(resolved)), idempotency),
        };
        var message = new TrainRequested
        {
            JobId = job.Id,
            Trainer = resolved.Trainer,
            Image = resolved.Image,
            ImageKey = resolved.ImageKey,
            ServeImage = resolved.ServeImage,
            Command = resolved.Command,
            ServeCommand = resolved.ServeCommand,
            Environment = resolved.Environment,
            Parameters = resolved.Parameters,
            Gpus = resolved.Gpus,
            TimeoutSeconds = resolved.TimeoutSeconds,
            ModelName = resolved.ModelName,
            DatasetUri = DatasetUri(resolved.DatasetUri),
            Resources = resolved.Resources,
            RollOnSuccess = rollOnSuccess,
            Alias = alias,
            WaitReadySeconds = waitReadySeconds,
            Promotion = resolved.Promotion,
            Attempt = 1,
            RequestedAt = now,
        };
        job.DispatchJson = JsonSerializer.Serialize(message, LedgerJson.Messages);
        return await InsertAsync(job, OutboxMessages.Send(message, now, job.DispatchJson), idempotency, cancellationToken);
    }

    public async Task<CreateResult> CreateRollJobAsync(RollRequested message, JsonObject request, IdempotencyRequest? idempotency, CancellationToken cancellationToken)
    {
        var job = new Job
        {
            Id = message.JobId,
            Kind = message.IsRollback ? JobKinds.Rollback : JobKinds.Roll,
            ModelName = message.ModelName,
            State = JobStates.Queued,
            Phase = JobPhases.Rolling,
            IdempotencyKey = idempotency?.Key,
            CreatedAt = message.RequestedAt,
            RequestJson = request.ToJsonString(),
            ResolvedJson = WithFingerprint(LedgerJson.ToObject(new { message.ModelName, message.Ref, message.ServeImage, message.WaitReadySeconds, message.IsRollback }), idempotency),
        };
        return await InsertAsync(job, OutboxMessages.Publish(job.Id, message, message.RequestedAt), idempotency, cancellationToken);
    }

    /// <summary>Where a job keeps the fingerprint of the request its idempotency key was first used with (inside its resolved document; no column of its own).</summary>
    public const string FingerprintProperty = "request_sha256";

    private static string WithFingerprint(JsonObject resolved, IdempotencyRequest? idempotency)
    {
        if (idempotency is not null)
        {
            resolved[FingerprintProperty] = idempotency.Fingerprint;
        }
        return resolved.ToJsonString(LedgerJson.Api);
    }

    /// <summary>The job a key was first used for, if it was this same request; a different request → <see cref="IdempotencyConflictException"/>.</summary>
    private static Job SameRequest(Job existing, IdempotencyRequest idempotency)
    {
        // Jobs written before fingerprints were kept have none: they match as they always did.
        var stored = LedgerJson.Parse(existing.ResolvedJson)?[FingerprintProperty]?.GetValue<string>();
        return stored is null || string.Equals(stored, idempotency.Fingerprint, StringComparison.Ordinal)
            ? existing
            : throw new IdempotencyConflictException(existing);
    }

    private async Task<CreateResult> InsertAsync(Job job, OutboxMessage outbox, IdempotencyRequest? idempotency, CancellationToken cancellationToken)
    {
        if (idempotency is not null && await FindByIdempotencyKeyAsync(idempotency.Key, cancellationToken) is { } existing)
        {
            return new CreateResult(SameRequest(existing, idempotency), false);
        }

        try
        {
            // Job and outbox row commit together (one transaction), so a crash in between can
            // neither lose the dispatch nor dispatch a job that does not exist.
            await writer.WriteAsync(job, outbox).WaitAsync(cancellationToken);
        }
        catch (DbUpdateException) when (idempotency is not null)
        {
            // Another request with the same key won the race.
            if (await FindByIdempotencyKeyAsync(idempotency.Key, cancellationToken) is { } winner)
            {
                return new CreateResult(SameRequest(winner, idempotency), false);
            }
            throw;
        }

        if (adminOptions.Value.CrashAfterJobWrite)
        {
            Environment.FailFast($"RouteIQ:Admin:CrashAfterJobWrite: crashing after writing job {job.Id}");
        }
        outboxSignal.Pulse();
        logger.LogInformation("Job {JobId} ({Kind} {Trainer}) queued", job.Id, job.Kind, job.Trainer ?? job.ModelName);
        return new CreateResult(job, true);
    }

    private async Task<Job?> FindByIdempotencyKeyAsync(string key, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var job = await db.Jobs.SingleOrDefaultAsync(j => j.IdempotencyKey == key, cancellationToken);
        if (job is null)
        {
            return null;
        }
        if (time.GetUtcNow() - job.CreatedAt <= IdempotencyWindow)
        {
            return job;
        }
        // Expired: the key is free again.
        job.IdempotencyKey = null;
        job.Revision++;
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateConcurrencyException)
        {
            // Someone else released it or the job moved on; either way the key is free or about to be.
        }
        return null;
    }

    public async Task<Job?> GetAsync(Guid id, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.Jobs.AsNoTracking().SingleOrDefaultAsync(j => j.Id == id, cancellationToken);
    }

    public async Task<List<Job>> ListAsync(string? trainer, string? state, string? kind, int limit, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var query = db.Jobs.AsNoTracking();
        if (!string.IsNullOrEmpty(trainer))
        {
            query = query.Where(j => j.Trainer == trainer);
        }
        if (!string.IsNullOrEmpty(state))
        {
            query = query.Where(j => j.State == state);
        }
        if (!string.IsNullOrEmpty(kind))
        {
            query = query.Where(j => j.Kind == kind);
        }
        return await query.OrderByDescending(j => j.CreatedAt).Take(limit).ToListAsync(cancellationToken);
    }

    /// <summary>
    /// Applies a change to one job: <paramref name="change"/> mutates it (and may add outbox
    /// rows) and returns whether anything changed. Retried on a concurrent update.
    /// </summary>
    public async Task<Job?> ApplyAsync(Guid jobId, Func<Job, LedgerDbContext, DateTimeOffset, bool> change, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            await using var db = await contexts.CreateDbContextAsync(cancellationToken);
            var job = await db.Jobs.SingleOrDefaultAsync(j => j.Id == jobId, cancellationToken);
            if (job is null)
            {
                logger.LogWarning("Event for unknown job {JobId} ignored", jobId);
                return null;
            }
            var stateBefore = job.State;
            var phaseBefore = job.Phase;
            var addsOutbox = db.Outbox.Local.Count;
            var (resultBefore, finishedBefore) = (job.TrainResultJson, job.FinishedAt);
            if (!change(job, db, time.GetUtcNow()))
            {
                return job;
            }
            if (job.TrainResultJson is not null && (job.TrainResultJson != resultBefore || job.FinishedAt != finishedBefore))
            {
                // The versions aggregate moves with the result, in the same transaction.
                await ModelVersionSummary.UpsertAsync(db, job, cancellationToken);
            }
            job.Revision++;
            try
            {
                await db.SaveChangesAsync(cancellationToken);
            }
            catch (DbUpdateConcurrencyException) when (attempt < 10)
            {
                continue;
            }
            if (db.Outbox.Local.Count > addsOutbox)
            {
                outboxSignal.Pulse();
            }
            if (job.State != stateBefore || job.Phase != phaseBefore || JobStates.IsTerminal(job.State))
            {
                await AnnounceAsync(job, cancellationToken);
            }
            return job;
        }
    }

    private async Task AnnounceAsync(Job job, CancellationToken cancellationToken)
    {
        waiters.Wake(job.Id);
        try
        {
            await bus.Publish(new JobStateChanged
            {
                JobId = job.Id,
                State = job.State,
                Terminal = JobStates.IsTerminal(job.State),
                ChangedAt = time.GetUtcNow(),
            }, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Waiters on other replicas fall back to their slow timer.
            logger.LogWarning(ex, "Could not announce the new state of job {JobId}", job.Id);
        }
    }

    /// <summary>Cancels a train job that has not ended: the runners stop and remove its workload.</summary>
    public async Task<(Job? Job, string? Problem)> CancelAsync(Guid jobId, CancellationToken cancellationToken)
    {
        string? problem = null;
        var job = await ApplyAsync(jobId, (job, db, now) => (problem = JobLifecycle.Cancel(job, db, now)) is null, cancellationToken);
        return (job, problem);
    }

    private static object Redacted(ResolvedTrain r) => new
    {
        r.Trainer,
        r.Image,
        r.ImageKey,
        r.ServeImage,
        r.TimeoutSeconds,
        r.Gpus,
        Environment = EnvironmentNames.Redact(r.Environment),
        Parameters = EnvironmentNames.Redact(r.Parameters),
        r.ModelName,
        Command = r.Command?.Select(SecretRedaction.RedactValue).ToList(),
        ServeCommand = r.ServeCommand?.Select(SecretRedaction.RedactValue).ToList(),
        Dataset = r.DatasetUri is null ? null : SecretRedaction.RedactValue(r.DatasetUri),
        r.Resources,
        r.AutoRoll,
    };
}
