using RouteIQ.Rollout.Edge;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using RouteIQ.Rollout.Registry;
using RouteIQ.Rollout.Serving;

namespace RouteIQ.Rollout.Rollouts;

/// <summary>
/// At start, makes the world match the recorded active deployments: re-applies the stable
/// endpoint's routes, adopts each live server (probe of its recorded URL) or starts a new one
/// from the same version, removes serving workloads no deployment records (a candidate a
/// killed roll left behind), and re-publishes <c>models/{model}/</c> where it does not hold the
/// active version. Rolls wait until this has run. Afterwards it keeps probing the active servers
/// and replaces one that died (two failed probes in a row) from the same version.
/// </summary>
public sealed class RolloutReconciler(
    IDbContextFactory<RegistryDbContext> dbFactory,
    RolloutCoordinator coordinator,
    ModelPublisher publisher,
    ServingManager serving,
    StableRouteTable routes,
    RolloutReadiness readiness,
    PromotionRunner promotions,
    IServiceProvider services,
    IOptions<RolloutOptions> options,
    ILogger<RolloutReconciler> logger) : BackgroundService
{
    private readonly Dictionary<Guid, int> _failedProbes = [];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        for (var attempt = 1; !stoppingToken.IsCancellationRequested; attempt++)
        {
            try
            {
                await ReconcileAsync(stoppingToken);
                readiness.SetReady();
                break;
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogError(ex, "Restoring the recorded deployments failed (attempt {Attempt}); retrying", attempt);
                await Task.Delay(TimeSpan.FromSeconds(Math.Min(30, attempt * 2)), stoppingToken);
            }
        }

        if (options.Value.SupervisionSeconds <= 0)
        {
            return;
        }
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(options.Value.SupervisionSeconds));
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await SuperviseAsync(stoppingToken);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogError(ex, "Supervising the active servers failed; next try in {Seconds}s", options.Value.SupervisionSeconds);
            }
        }
    }

    private async Task SuperviseAsync(CancellationToken cancellationToken)
    {
        List<Deployment> active;
        await using (var db = await dbFactory.CreateDbContextAsync(cancellationToken))
        {
            active = await db.Deployments.AsNoTracking().Where(d => d.Active && d.ServeImage != null).ToListAsync(cancellationToken);
        }
        foreach (var id in _failedProbes.Keys.Except(active.Select(d => d.Id)).ToList())
        {
            _failedProbes.Remove(id);
        }
        foreach (var deployment in active)
        {
            if (await serving.ProbeAsync(deployment.ServerUrl, cancellationToken))
            {
                _failedProbes.Remove(deployment.Id);
                continue;
            }
            var failures = _failedProbes[deployment.Id] = _failedProbes.GetValueOrDefault(deployment.Id) + 1;
            if (failures < 2)
            {
                continue;
            }
            using var modelLock = await coordinator.LockModelAsync(deployment.ModelName, cancellationToken);
            // A roll may have replaced it while we waited for the lock.
            if (await coordinator.ActiveAsync(deployment.ModelName, cancellationToken) is { } current && current.Id == deployment.Id)
            {
                var others = (await coordinator.ActiveIdsAsync(cancellationToken)).Where(id => id != deployment.Id).ToHashSet();
                await RestoreServerAsync(current, others, cancellationToken);
            }
            _failedProbes.Remove(deployment.Id);
        }
    }

    public async Task ReconcileAsync(CancellationToken cancellationToken)
    {
        // A canary or shadow in flight when rollout stopped is rolled back: the routes restored
        // below carry no split and its candidate server is an orphan removed below.
        await promotions.RecoverAsync(services.GetService<MassTransit.IBus>(), cancellationToken);

        List<Deployment> active;
        await using (var db = await dbFactory.CreateDbContextAsync(cancellationToken))
        {
            active = await db.Deployments.AsNoTracking().Where(d => d.Active).OrderBy(d => d.Sequence).ToListAsync(cancellationToken);
        }

        foreach (var deployment in active)
        {
            using var modelLock = await coordinator.LockModelAsync(deployment.ModelName, cancellationToken);
            await RestoreServerAsync(deployment, active.Where(d => d.Id != deployment.Id).Select(d => d.Id).ToHashSet(), cancellationToken);
        }
        if (active.Count > 0)
        {
            await routes.SetDefaultAsync(active[^1].ModelName, cancellationToken);
        }

        await serving.RemoveOrphansAsync(active.Select(d => d.Id).ToHashSet(), cancellationToken);

        foreach (var deployment in active)
        {
            if (!await publisher.IsPublishedAsync(deployment.ModelName, deployment.ManifestSha256, cancellationToken))
            {
                logger.LogWarning("models/{Model}/ does not hold the active v{Version}; publishing it again", deployment.ModelName, deployment.Version);
                await publisher.PublishAsync(deployment.ModelName, deployment.Version, null, cancellationToken);
            }
        }
        logger.LogInformation("Restored {Count} active deployment(s)", active.Count);
    }

    private async Task RestoreServerAsync(Deployment deployment, IReadOnlySet<Guid> others, CancellationToken cancellationToken)
    {
        if (await serving.ProbeAsync(deployment.ServerUrl, cancellationToken))
        {
            await routes.SetAsync(new ServerRoute(deployment.ModelName, deployment.Version, deployment.ServerUrl!), makeDefault: false, cancellationToken);
            logger.LogInformation("Adopted the live server of {Model} v{Version} at {ServerUrl}", deployment.ModelName, deployment.Version, deployment.ServerUrl);
            return;
        }
        if (deployment.ServeImage is null)
        {
            return;
        }

        logger.LogWarning("The server of {Model} v{Version} at {ServerUrl} does not answer; starting a new one",
            deployment.ModelName, deployment.Version, deployment.ServerUrl);
        try
        {
            // The dead server's remains (its handle, an exited container, a process record) go first.
            await serving.RetireAsync(deployment.Id, others, cancellationToken);
            var started = await serving.StartAsync(new ServeSpec(deployment.Id, deployment.ModelName, deployment.Version, deployment.ServeImage,
                RolloutCoordinator.ParseCommand(deployment.ServeCommandJson), WaitReadySeconds: 90), cancellationToken);
            await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
            var row = await db.Deployments.FirstAsync(d => d.Id == deployment.Id, cancellationToken);
            row.ServerUrl = started.ServerUrl;
            row.WorkloadName = started.WorkloadName;
            row.WorkloadId = started.WorkloadId;
            row.WorkloadKind = started.Kind;
            await db.SaveChangesAsync(cancellationToken);
            await routes.SetAsync(new ServerRoute(deployment.ModelName, deployment.Version, started.ServerUrl), makeDefault: false, cancellationToken);
        }
        catch (RegistryException ex)
        {
            // The model stays unrouted (503 at the stable endpoint) until a roll replaces it.
            logger.LogError("Restarting the server of {Model} v{Version} failed: {Problem}", deployment.ModelName, deployment.Version, ex.Message);
        }
    }
}
