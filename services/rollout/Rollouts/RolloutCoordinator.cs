using RouteIQ.Rollout.Edge;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using RouteIQ.Artifacts;
using RouteIQ.Contracts;
using RouteIQ.Rollout.Registry;
using RouteIQ.Rollout.Serving;

namespace RouteIQ.Rollout.Rollouts;

/// <summary>
/// Blue/green rollouts, one per model at a time (different models roll in parallel):
/// resolve → start the candidate and wait for <c>/ping</c> → publish <c>models/{model}/</c>
/// → switch the stable endpoint in one swap → drain → record the deployment and move the
/// alias → retire the old server → <see cref="ModelRolledOut"/>. Publishing waits for a
/// healthy candidate so a failed roll leaves the published folder as it was. A crash at any
/// step leaves the recorded (old) deployment active; <see cref="RolloutReconciler"/> restores
/// its route, server and published folder at start.
/// </summary>
public sealed class RolloutCoordinator(
    IDbContextFactory<RegistryDbContext> dbFactory,
    ModelRegistry registry,
    ModelPublisher publisher,
    ServingManager serving,
    StableRouteTable routes,
    RolloutReadiness readiness,
    IOptions<RolloutOptions> options,
    IConfiguration configuration,
    IArtifactStore store,
    PromotionRunner promotions,
    TimeProvider time,
    ILogger<RolloutCoordinator> logger)
{
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _modelLocks = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _recordLock = new(1, 1);

    /// <summary>Serializes work on one model (rolls, rollbacks, restart repair).</summary>
    public async Task<IDisposable> LockModelAsync(string model, CancellationToken cancellationToken)
    {
        var gate = _modelLocks.GetOrAdd(model, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(cancellationToken);
        return new Releaser(gate);
    }

    private sealed class Releaser(SemaphoreSlim gate) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                gate.Release();
            }
        }
    }

    public TimeSpan DrainGrace => TimeSpan.FromSeconds(options.Value.DrainGraceSeconds
        ?? (double.TryParse(configuration["DRAIN_GRACE_SEC"], System.Globalization.CultureInfo.InvariantCulture, out var seconds) ? seconds : 1.5));

    private string? DefaultServeImage => Blank(options.Value.ServeImage) ?? Blank(configuration["SERVE_IMAGE"]);

    /// <summary>Runs a roll (from <see cref="RollRequested"/>, or built from a roll-on-success <see cref="TrainCompleted"/>) and publishes its outcome (<see cref="ModelRolledOut"/> or <see cref="RollFailed"/>). Never throws but for cancellation.</summary>
    public async Task RollAsync(RollRequested command, IPublishEndpoint bus, CancellationToken cancellationToken)
    {
        await readiness.WaitAsync(cancellationToken);
        var model = command.ModelName;
        var version = default(int?);
        try
        {
            if (await FindByRollJobAsync(command.JobId, cancellationToken) is { } done)
            {
                logger.LogInformation("Roll {JobId} already happened (deployment {DeploymentId}); publishing its outcome again", command.JobId, done.Id);
                await bus.Publish(RolledOut(done, command), cancellationToken);
                return;
            }
            if (model is null)
            {
                model = command.IsRollback
                    ? await DefaultModelAsync(cancellationToken) ?? throw new RegistryException(409, "no previous deployment recorded for rollback")
                    : throw new RegistryException(400, "ModelName is required for a roll");
            }
            if (!ModelRegistry.IsValidModelName(model))
            {
                throw new RegistryException(400, $"ModelName '{model}' is not a valid model name");
            }
            if (await promotions.FindAsync(command.JobId, cancellationToken) is { } ended && RolloutStates.IsTerminal(ended.State) && ended.State != RolloutStates.Promoted)
            {
                // A redelivery of a roll whose rollout already ended (rolled back, aborted, failed).
                await bus.Publish(Failed(command, model, ended.ToVersion, 422, ended.Reason ?? ended.State), cancellationToken);
                return;
            }

            // One rollout per model: 409 while one is in flight; a promotion is recorded before it waits for the lock.
            var rollout = await promotions.BeginAsync(command, model, cancellationToken);
            using var modelLock = await LockModelAsync(model, cancellationToken);
            var deployment = await RollLockedAsync(command, model, rollout, bus, v => version = v, cancellationToken);
            await bus.Publish(RolledOut(deployment, command), cancellationToken);
        }
        catch (Exception ex) when (ex is RegistryException or ManifestVerificationException && !cancellationToken.IsCancellationRequested)
        {
            var status = ex is RegistryException r ? r.StatusCode : 422;
            var reason = ex is ManifestVerificationException ? $"manifest verification failed: {ex.Message}" : ex.Message;
            logger.LogWarning("Roll {JobId} of {Model} failed ({Status}): {Reason}", command.JobId, model, status, reason);
            if (status != 409 || !reason.StartsWith("a rollout of ", StringComparison.Ordinal))
            {
                await promotions.FailIfInFlightAsync(command.JobId, reason, bus);
            }
            await bus.Publish(Failed(command, model, version, status, reason), cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            logger.LogError(ex, "Roll {JobId} of {Model} failed unexpectedly", command.JobId, model);
            await promotions.FailIfInFlightAsync(command.JobId, $"rollout error: {ex.Message}", bus);
            await bus.Publish(Failed(command, model, version, 500, $"rollout error: {ex.Message}"), cancellationToken);
        }
    }

    private async Task<Deployment> RollLockedAsync(RollRequested command, string model, RolloutRecord? rollout, IPublishEndpoint bus,
        Action<int> resolved, CancellationToken cancellationToken)
    {
        // The roll waited for the lock: a redelivery may have been completed by the holder.
        if (await FindByRollJobAsync(command.JobId, cancellationToken) is { } done)
        {
            return done;
        }
        var active = await ActiveAsync(model, cancellationToken);
        int version;
        string? serveImage;
        IReadOnlyList<string>? serveCommand;
        if (command.IsRollback)
        {
            var previous = active?.PreviousDeploymentId is { } previousId ? await FindAsync(previousId, cancellationToken) : null;
            if (previous is null)
            {
                throw new RegistryException(409, "no previous deployment recorded for rollback");
            }
            version = previous.Version;
            serveImage = Blank(command.ServeImage) ?? previous.ServeImage ?? DefaultServeImage;
            serveCommand = command.ServeCommand is { Count: > 0 } ? command.ServeCommand : ParseCommand(previous.ServeCommandJson);
        }
        else
        {
            var registered = await registry.ResolveAsync(model, command.Ref, cancellationToken);
            version = registered.Version;
            serveImage = Blank(command.ServeImage) ?? registered.ServeImage ?? DefaultServeImage;
            serveCommand = command.ServeCommand is { Count: > 0 } ? command.ServeCommand : ParseCommand(registered.ServeCommandJson);
        }
        resolved(version);
        if (serveImage is null)
        {
            throw new RegistryException(422, "no serving image");
        }

        // Refuse a tampered or (with a key configured) unsigned version before anything starts.
        var verified = await publisher.VerifyRegisteredAsync(model, version, cancellationToken);
        if (rollout is not null)
        {
            // The offline gate: a failure stops here, before any server starts or any traffic moves.
            await promotions.GateAsync(rollout, command.Promotion!, model, version, active, bus, cancellationToken);
        }

        var deploymentId = Guid.NewGuid();
        var started = await serving.StartAsync(new ServeSpec(deploymentId, model, version, serveImage, serveCommand, command.WaitReadySeconds), cancellationToken);
        var switched = false;
        try
        {
            if (rollout is not null)
            {
                // Shadow and canary steps against the recorded production server; returns when the candidate may be switched in.
                await promotions.RunTrafficAsync(rollout, command.Promotion!, routes.Find(model) is { } baseline && active is not null ? baseline : null,
                    version, started.ServerUrl, deploymentId, bus, cancellationToken);
            }
            CrashPoint("before-publish");
            var published = await publisher.PublishAsync(model, version, verified, cancellationToken);
            CrashPoint("after-publish");

            var previousRoute = routes.Find(model);
            // Counted as switched before the call: if the endpoint fails to confirm, the revert below still runs.
            switched = true;
            await routes.SetAsync(new ServerRoute(model, version, started.ServerUrl) { HealthyTimestamp = started.HealthyTimestamp }, makeDefault: true, cancellationToken);
            logger.LogInformation("Stable endpoint: {Model} now served by v{Version} at {ServerUrl} (was {Previous})",
                model, version, started.ServerUrl, previousRoute?.ServerUrl ?? "none");
            CrashPoint("after-switch");
            await Task.Delay(DrainGrace, time, cancellationToken);

            var deployment = new Deployment
            {
                Id = deploymentId,
                ModelName = model,
                Version = version,
                Alias = Blank(command.Alias) ?? options.Value.DefaultAlias,
                ModelUri = store.GetUri(ArtifactKeys.RegistryVersion(model, version)),
                ManifestUri = published.ManifestUri,
                ManifestSha256 = published.ManifestSha256,
                ServeImage = serveImage,
                ServeCommandJson = serveCommand is { Count: > 0 } ? JsonSerializer.Serialize(serveCommand) : null,
                ServerUrl = started.ServerUrl,
                WorkloadName = started.WorkloadName,
                WorkloadId = started.WorkloadId,
                WorkloadKind = started.Kind,
                Active = true,
                IsRollback = command.IsRollback,
                RollJobId = command.JobId,
                TrainJobId = command.TrainJobId,
                PreviousDeploymentId = active?.Id,
                PreviousModelName = active?.ModelName,
                PreviousVersion = active?.Version,
                DeployedAt = time.GetUtcNow(),
            };
            await RecordAsync(deployment, CancellationToken.None);

            if (active is not null)
            {
                await serving.RetireAsync(active.Id, await ActiveIdsAsync(CancellationToken.None), CancellationToken.None);
            }
            logger.LogInformation("{Model} v{Version} rolled out (deployment {DeploymentId}, previous v{PreviousVersion}, rollback {IsRollback})",
                model, version, deployment.Id, active?.Version, command.IsRollback);
            if (rollout is not null)
            {
                await promotions.PromotedAsync(rollout, bus);
            }
            return deployment;
        }
        catch (Exception)
        {
            if (switched)
            {
                await RevertSwitchAsync(model, active);
            }
            await serving.RetireAsync(deploymentId, await ActiveIdsAsync(CancellationToken.None), CancellationToken.None);
            if (switched && active is not null)
            {
                await RestorePublishedAsync(active);
            }
            throw;
        }
    }

    /// <summary>Puts the recorded deployment back behind the endpoint after a failure past the switch.</summary>
    private async Task RevertSwitchAsync(string model, Deployment? active)
    {
        try
        {
            if (active?.ServerUrl is { } url)
            {
                await routes.SetAsync(new ServerRoute(model, active.Version, url), makeDefault: false, CancellationToken.None);
            }
            else
            {
                await routes.RemoveAsync(model, CancellationToken.None);
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or IOException)
        {
            // The table here is already reverted; a restarted endpoint process is given it whole.
            logger.LogError("The stable endpoint did not confirm the revert of {Model}: {Error}", model, ex.Message);
        }
    }

    private async Task RestorePublishedAsync(Deployment active)
    {
        try
        {
            await publisher.PublishAsync(active.ModelName, active.Version, null, CancellationToken.None);
        }
        catch (Exception ex)
        {
            logger.LogError(ex, "Restoring models/{Model}/ to v{Version} failed; the reconciler repairs it at the next start", active.ModelName, active.Version);
        }
    }

    private async Task RecordAsync(Deployment deployment, CancellationToken cancellationToken)
    {
        await _recordLock.WaitAsync(cancellationToken);
        try
        {
            await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
            var strategy = db.Database.CreateExecutionStrategy();
            await strategy.ExecuteAsync(async () =>
            {
                db.ChangeTracker.Clear();
                await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);
                var now = deployment.DeployedAt;
                foreach (var old in await db.Deployments.Where(d => d.ModelName == deployment.ModelName && d.Active).ToListAsync(cancellationToken))
                {
                    old.Active = false;
                    old.RetiredAt = now;
                }
                deployment.Sequence = (await db.Deployments.MaxAsync(d => (long?)d.Sequence, cancellationToken) ?? 0) + 1;
                db.Deployments.Add(deployment);
                var alias = await db.Aliases.FirstOrDefaultAsync(a => a.ModelName == deployment.ModelName && a.Alias == deployment.Alias, cancellationToken);
                if (alias is null)
                {
                    db.Aliases.Add(new ModelAlias { ModelName = deployment.ModelName, Alias = deployment.Alias!, Version = deployment.Version, UpdatedAt = now });
                }
                else
                {
                    alias.Version = deployment.Version;
                    alias.UpdatedAt = now;
                }
                await db.SaveChangesAsync(cancellationToken);
                await tx.CommitAsync(cancellationToken);
            });
        }
        finally
        {
            _recordLock.Release();
        }
    }

    private void CrashPoint(string step)
    {
        if (string.Equals(options.Value.CrashAt, step, StringComparison.Ordinal))
        {
            logger.LogCritical("RouteIQ:Rollout:CrashAt={Step}: killing this process now", step);
            Process.GetCurrentProcess().Kill();
        }
    }

    public async Task<Deployment?> ActiveAsync(string model, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        return await db.Deployments.AsNoTracking().FirstOrDefaultAsync(d => d.ModelName == model && d.Active, cancellationToken);
    }

    public async Task<IReadOnlySet<Guid>> ActiveIdsAsync(CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        return (await db.Deployments.AsNoTracking().Where(d => d.Active).Select(d => d.Id).ToListAsync(cancellationToken)).ToHashSet();
    }

    /// <summary>The most recently deployed model that is active.</summary>
    public async Task<string?> DefaultModelAsync(CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        return await db.Deployments.AsNoTracking().Where(d => d.Active).OrderByDescending(d => d.Sequence)
            .Select(d => d.ModelName).FirstOrDefaultAsync(cancellationToken);
    }

    private async Task<Deployment?> FindAsync(Guid id, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        return await db.Deployments.AsNoTracking().FirstOrDefaultAsync(d => d.Id == id, cancellationToken);
    }

    private async Task<Deployment?> FindByRollJobAsync(Guid jobId, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        return await db.Deployments.AsNoTracking().FirstOrDefaultAsync(d => d.RollJobId == jobId, cancellationToken);
    }

    public string PublicUrlOf(string model) => $"{options.Value.PublicUrl.TrimEnd('/')}/{Uri.EscapeDataString(model)}";

    private ModelRolledOut RolledOut(Deployment d, RollRequested command) => new()
    {
        JobId = command.JobId,
        ModelName = d.ModelName,
        Version = d.Version,
        Alias = d.Alias ?? options.Value.DefaultAlias,
        ModelUri = store.GetUri(ArtifactKeys.PublishedModel(d.ModelName)),
        ManifestUri = d.ManifestUri ?? store.GetUri(ArtifactKeys.PublishedModel(d.ModelName) + ModelManifest.FileName),
        ManifestSha256 = d.ManifestSha256 ?? "",
        PublicUrl = PublicUrlOf(d.ModelName),
        ServerUrl = d.ServerUrl,
        ServeImage = d.ServeImage,
        DeploymentId = d.Id,
        PreviousVersion = d.PreviousVersion,
        PreviousModelName = d.PreviousModelName,
        IsRollback = d.IsRollback,
        TrainJobId = d.TrainJobId,
        RolledOutAt = d.DeployedAt,
    };

    private RollFailed Failed(RollRequested command, string? model, int? version, int status, string reason) => new()
    {
        JobId = command.JobId,
        ModelName = model,
        Ref = command.Ref,
        Version = version,
        Reason = reason,
        StatusCode = status,
        IsRollback = command.IsRollback,
        TrainJobId = command.TrainJobId,
        FailedAt = time.GetUtcNow(),
    };

    private static string? Blank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;

    public static IReadOnlyList<string>? ParseCommand(string? json) =>
        string.IsNullOrEmpty(json) ? null : JsonSerializer.Deserialize<List<string>>(json);
}

/// <summary>Completes once the restart reconciliation ran; rolls wait for it so they never race the repair.</summary>
public sealed class RolloutReadiness
{
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public bool IsReady => _ready.Task.IsCompleted;

    public void SetReady() => _ready.TrySetResult();

    public Task WaitAsync(CancellationToken cancellationToken) => _ready.Task.WaitAsync(cancellationToken);
}
