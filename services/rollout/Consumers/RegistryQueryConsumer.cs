using MassTransit;
using Microsoft.EntityFrameworkCore;
using RouteIQ.Contracts;
using RouteIQ.Rollout.Registry;
using RouteIQ.Rollout.Rollouts;
using RouteIQ.Rollout.Serving;

namespace RouteIQ.Rollout.Consumers;

/// <summary>Answers gateway-admin's registry questions; gateway-admin never reads rollout's tables.</summary>
public sealed class RegistryQueryConsumer(
    IDbContextFactory<RegistryDbContext> dbFactory,
    ModelRegistry registry,
    RolloutCoordinator coordinator,
    ServingManager serving) :
    IConsumer<GetActiveDeployment>,
    IConsumer<GetDeploymentHistory>,
    IConsumer<ResolveModelVersion>
{
    public async Task Consume(ConsumeContext<GetActiveDeployment> context)
    {
        var ct = context.CancellationToken;
        var model = context.Message.ModelName ?? await coordinator.DefaultModelAsync(ct);
        var active = model is null ? null : await coordinator.ActiveAsync(model, ct);
        if (active is null)
        {
            await context.RespondAsync(new ActiveDeployment());
            return;
        }
        var healthy = await serving.ProbeAsync(active.ServerUrl, ct);
        await context.RespondAsync(new ActiveDeployment { Deployment = ToInfo(active, healthy) });
    }

    public async Task Consume(ConsumeContext<GetDeploymentHistory> context)
    {
        var limit = Math.Clamp(context.Message.Limit, 1, 1000);
        await using var db = await dbFactory.CreateDbContextAsync(context.CancellationToken);
        var query = db.Deployments.AsNoTracking();
        if (context.Message.ModelName is { } model)
        {
            query = query.Where(d => d.ModelName == model);
        }
        var rows = await query.OrderByDescending(d => d.Sequence).Take(limit).ToListAsync(context.CancellationToken);
        await context.RespondAsync(new DeploymentHistory { Deployments = rows.Select(d => ToInfo(d, healthy: null)).ToList() });
    }

    public async Task Consume(ConsumeContext<ResolveModelVersion> context)
    {
        var message = context.Message;
        try
        {
            var version = await registry.ResolveAsync(message.ModelName, message.Ref, context.CancellationToken);
            await context.RespondAsync(new ModelVersionResolved
            {
                ModelName = version.ModelName,
                Version = version.Version,
                ModelUri = version.ModelUri,
                ServeImage = version.ServeImage,
            });
        }
        catch (RegistryException ex)
        {
            await context.RespondAsync(new ModelVersionNotFound { ModelName = message.ModelName, Ref = message.Ref, Reason = ex.Message });
        }
    }

    private DeploymentInfo ToInfo(Deployment d, bool? healthy) => new()
    {
        DeploymentId = d.Id,
        ModelName = d.ModelName,
        Version = d.Version,
        Alias = d.Alias,
        ModelUri = d.ModelUri,
        ManifestUri = d.ManifestUri,
        ServeImage = d.ServeImage,
        ServerUrl = d.ServerUrl,
        PublicUrl = coordinator.PublicUrlOf(d.ModelName),
        Active = d.Active,
        Healthy = healthy,
        DeployedAt = d.DeployedAt,
        RetiredAt = d.RetiredAt,
        PreviousDeploymentId = d.PreviousDeploymentId,
        PreviousModelName = d.PreviousModelName,
        PreviousVersion = d.PreviousVersion,
        IsRollback = d.IsRollback,
    };
}

public sealed class RegistryQueryConsumerDefinition : ConsumerDefinition<RegistryQueryConsumer>
{
    public RegistryQueryConsumerDefinition()
    {
        EndpointName = "rollout.registry-queries";
        ConcurrentMessageLimit = 32;
    }
}
