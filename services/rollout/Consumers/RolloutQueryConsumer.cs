using MassTransit;
using Microsoft.EntityFrameworkCore;
using RouteIQ.Contracts;
using RouteIQ.Rollout.Registry;
using RouteIQ.Rollout.Rollouts;

namespace RouteIQ.Rollout.Consumers;

/// <summary>Answers gateway-admin's <c>/admin/rollouts</c> questions and operator controls.</summary>
public sealed class RolloutQueryConsumer(IDbContextFactory<RegistryDbContext> dbFactory, PromotionRunner promotions) :
    IConsumer<GetRollouts>,
    IConsumer<GetRollout>,
    IConsumer<ControlRollout>
{
    public async Task Consume(ConsumeContext<GetRollouts> context)
    {
        var limit = Math.Clamp(context.Message.Limit, 1, 1000);
        await using var db = await dbFactory.CreateDbContextAsync(context.CancellationToken);
        var query = db.Rollouts.AsNoTracking();
        if (context.Message.ModelName is { } model)
        {
            query = query.Where(r => r.ModelName == model);
        }
        var rows = (await query.ToListAsync(context.CancellationToken)).OrderByDescending(r => r.StartedAt).Take(limit);
        await context.RespondAsync(new RolloutDocuments { Rollouts = rows.Select(r => PromotionRunner.Document(r).ToJsonString()).ToList() });
    }

    public async Task Consume(ConsumeContext<GetRollout> context)
    {
        var record = await promotions.FindAsync(context.Message.RolloutId, context.CancellationToken);
        await context.RespondAsync(record is null
            ? new RolloutDocuments { StatusCode = 404, Error = "rollout not found" }
            : new RolloutDocuments { Rollouts = [PromotionRunner.Document(record).ToJsonString()] });
    }

    public async Task Consume(ConsumeContext<ControlRollout> context)
    {
        var (status, error) = await promotions.ControlAsync(context.Message.RolloutId, context.Message.Action, context.CancellationToken);
        var record = await promotions.FindAsync(context.Message.RolloutId, context.CancellationToken);
        await context.RespondAsync(new RolloutDocuments
        {
            StatusCode = status,
            Error = error,
            Rollouts = record is null ? [] : [PromotionRunner.Document(record).ToJsonString()],
        });
    }
}

public sealed class RolloutQueryConsumerDefinition : ConsumerDefinition<RolloutQueryConsumer>
{
    public RolloutQueryConsumerDefinition()
    {
        EndpointName = "rollout.rollout-queries";
        ConcurrentMessageLimit = 16;
    }
}
